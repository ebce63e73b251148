"""What a run reads and writes: the output folder (folder), the manifest (manifest),
metrics as CSV (metrics), field series (fields, series), cell snapshots (cells), all of them
behind one close() (outputs), and checkpoints for restarts as plain data (checkpoint, plain).
"""
