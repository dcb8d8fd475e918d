"""The bottom layer: the one exception, atomic files and the kornews home, the device and threads, the run directory's file names, plots."""
