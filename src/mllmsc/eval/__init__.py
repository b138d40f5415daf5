"""Evaluation: image metrics (``metrics``), SNR × CBR sweeps, tables and plots."""
