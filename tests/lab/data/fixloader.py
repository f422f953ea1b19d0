import numpy as np
def load():
    rng = np.random.default_rng(7)
    x = rng.integers(0, 256, (120, 4, 4)).astype(np.uint8)
    y = (np.arange(120) % 3).astype(np.uint8)
    return (x[:90], y[:90]), (x[90:], y[90:])
