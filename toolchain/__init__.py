"""retrollama: build a llama2.c-class model runner for Windows 9x/NT4 PCs.

One module per stage of the pipeline: target YAML -> sources -> rendered
makefile -> compiler -> exe -> audit -> bundle -> media / FTP.
"""

__version__ = "0.1.0"
