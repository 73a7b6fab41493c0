"""What reads files: the one loader (load: a result file or a fleet file, decided once), what a
file proves (verify, result, fleet, checks, consistency), and the commands built on it (compare,
merge, export). It sits above workloads/ and fleet/, whose checks and models it asks; results/
below it is the file alone."""
