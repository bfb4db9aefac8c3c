"""PyTorch / ExecuTorch helpers shared by the torch sources, targets and runtimes.

Each module imports torch or executorch only inside its functions, so importing this package is
free. ``pt2e`` holds the one place the PT2E quantization import path is spelled; ``pte`` reads a
.pte file's delegation without building anything; ``delegation`` analyses a lowered program at
build time; ``profile`` turns an ETRecord + ETDump pair into a per-op table.
"""
