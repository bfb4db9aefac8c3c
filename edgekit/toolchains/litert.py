"""The ``litert`` toolchain: PyTorch -> TFLite with litert-torch (PT2E int8 included).

litert-torch 0.10.0 cannot live in edgekit's main environment: its ai-edge-litert[model-utils]
requirement pins xdsl 0.28.0, which needs typing_extensions < 4.13 (the main set has 4.16), and it
adds ~2 GB (jax, jaxlib, transformers, litert-converter). The lock is the dependency closure of
litert-torch 0.10.0 + torch 2.13.0 (CPU) + ai-edge-litert 2.3.0 + ai-edge-quantizer 0.10.0 under
constraints-litert.txt, with nothing the conversion does not need (no tensorflow, executorch,
coremltools, pytest). torch stays ==2.13.0: a looser pin pulls the CUDA build.
"""

from edgekit.toolchains import TOOLCHAINS, Toolchain

LITERT = TOOLCHAINS.register(
    "litert",
    Toolchain(
        name="litert",
        description="PyTorch -> TFLite (litert-torch 0.10.0, torch 2.13.0 CPU, ai-edge-litert 2.3.0, ai-edge-quantizer 0.10.0)",
        requirements="litert.txt",
        python="CPython 3.10-3.13 (torch 2.13.0 and jaxlib 0.10 wheels)",
        smoke="import litert_torch, ai_edge_litert, ai_edge_quantizer, torch",
        python_min=(3, 10),
        python_max=(3, 13),
    ),
)
