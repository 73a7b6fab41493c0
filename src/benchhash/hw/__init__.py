"""What this machine is, read once per process where it does not change: the CPU (cpu); each GPU
through one interface (gpu) with an implementation per vendor (nvml: NVIDIA, the only pynvml
import; amd: AMD SMI), chosen by gpus, which also lists every GPU; its power limits (power); CUDA
and the cuda backend's probe (cuda), which scan backends can run and why not (backends), the
device a run uses (device), and the provenance recorded with a result (provenance)."""
