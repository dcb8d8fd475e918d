"""One module per verb of the CLI, named as the verb: each reads its inputs, calls the library, writes the run directory."""
