"""The runner's dealings with the operating system: locks, private files, the user, fault points."""
