"""spacetime_snn: spiking networks whose synaptic delays are distances between learnable neuron positions."""

__version__ = "0.1.0"
