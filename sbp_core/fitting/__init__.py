"""Devices from measured pulse-response curves (README, "Devices from measured curves").

`curves` reads a potentiation/depression experiment (CSV, one row per pulse) and generates
synthetic ones from any device model; `fit` fits the NeuroSim model of `sbp_core.chip.device` to it,
or builds a lookup-table device from it, and writes a device file; `figure` draws the measured
curves beside the fitted ones. The device models themselves, and reading device files, are in
`sbp_core.chip.device`.
"""
