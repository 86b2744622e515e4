"""Disk images of a bundle for PCs without a network: floppies and CDs."""
