"""Fleet runs: every GPU of a node and every node of a cluster measured at once, in lockstep, on
torch.distributed (gloo, so CPUs too). One rank per device, started by torchrun, srun or a
Kubernetes PyTorchJob (ranks.py), or by `benchhash run --all-gpus` (launch.py); the ranks agree on
every phase and open every trial window at one instant of rank 0's clock (lockstep.py); each
writes its own sealed file before any collective step, and rank 0 gathers each rank's summary
(a few hundred bytes) into the fleet file (results/fleet.py, results/fleet_build.py), with
per-trial sums over the common windows."""
