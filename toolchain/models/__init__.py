"""Models: which ones exist (registry), getting them (fetch), and whether
they fit an old PC (inspect)."""
