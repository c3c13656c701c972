"""Devices from measured pulse-response curves (docs/measured_devices.md).

`curves` reads a potentiation/depression experiment (CSV, one row per pulse) and generates
synthetic ones from any device model; `fit` fits the NeuroSim model (`sbp_core.chip.kinds`) to
it, or builds a lookup-table device from it, and writes a device file; `statespace` separates read
noise from write noise (a Kalman-filter likelihood); `quality` simulates the fitted device over
the measured pulses and says whether it follows them; `figure` draws the measured curves beside
the fitted device's mean and band. The device models themselves are the kinds of
`sbp_core.chip.kinds`; device files are read and written by `sbp_core.chip.device`.
"""
