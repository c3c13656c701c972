"""The simulated chip: device kinds and their physics, crossbars of differential pairs, the
compiled pulse engine, programming (erase, write, verify) and pair refresh."""
