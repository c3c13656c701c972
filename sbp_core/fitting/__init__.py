"""Devices from measured pulse-response curves (README, "Devices from measured curves").

`curves` reads a potentiation/depression experiment (CSV, one row per pulse) and generates
synthetic ones from any device model; `fit` fits the NeuroSim model of `sbp_core.chip.device` to it,
or builds a lookup-table device from it, and writes a device file; `statespace` separates read
noise from write noise (a Kalman-filter likelihood); `quality` simulates the fitted device over
the measured pulses and says whether it follows them; `figure` draws the measured curves beside
the fitted device's mean and band. The device models themselves, and reading device files, are in
`sbp_core.chip.device`.
"""
