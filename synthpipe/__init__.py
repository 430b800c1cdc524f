"""The top layer: the `synth` command line (`synthpipe.cli`), which may import every package."""
