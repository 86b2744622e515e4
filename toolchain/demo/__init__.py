"""The offline demo model: a tiny llama2.c model trained on stories the
project writes itself, so a build needs no network and no shared files."""
