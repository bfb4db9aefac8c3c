"""The probe's loader for .onnx files: pushed beside harness/probe.py and run with the device's own
Python (standard library at import; onnxruntime imported inside). Never imports edgekit."""

from __future__ import annotations


def load_onnx(path, provider=None, input_shapes=None):
    """Open ``path`` in an onnxruntime InferenceSession on the CPU provider; the runtime's own
    first error line when that fails (a truncated file, an opset this onnxruntime does not know)."""
    result = {"runtime": "onnxruntime", "ok": False}
    try:
        import onnxruntime

        result["version"] = getattr(onnxruntime, "__version__", None)
        so = onnxruntime.SessionOptions()
        so.log_severity_level = 3
        onnxruntime.InferenceSession(path, sess_options=so, providers=["CPUExecutionProvider"])
        result["ok"] = True
    except BaseException as exc:  # the runtime's own words are the point of the check
        text = str(exc).strip()
        result["error"] = text.splitlines()[0][:300] if text else type(exc).__name__
    return result
