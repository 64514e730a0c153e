"""Integer (fixed-point) simulators that mirror Lava / Loihi 2 arithmetic bit for bit."""
