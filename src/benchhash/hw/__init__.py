"""What this machine is, read once per process where it does not change: the CPU (cpu), every
GPU by index and PCI bus id through NVML (gpus, nvml), CUDA and the cuda backend's probe (cuda),
which scan backends can run and why not (backends), the device a run uses (device), and the
provenance recorded with a result (provenance)."""
