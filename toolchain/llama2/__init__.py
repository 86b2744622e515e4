"""llama2.c formats and a NumPy reference of its run.c.

``checkpoint`` reads and writes model files, ``tokenizer`` reads
tokenizer.bin and encodes/decodes like run.c, ``reference`` is the forward
pass, sampler and generate loop the engine is tested against.  Later
stages (inspect, quantize, build) reuse them instead of re-parsing files.
"""
