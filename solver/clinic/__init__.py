"""What the clinic would see of a run: images, their detectability, the liquid biopsy."""
