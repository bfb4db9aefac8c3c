"""Results: the versioned result schema shared by host and device runs, history and comparison."""
