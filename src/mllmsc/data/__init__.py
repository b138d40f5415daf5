"""Data: reading and writing images and masks (``io``), datasets for training and evaluation."""
