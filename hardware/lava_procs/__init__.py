"""Custom Lava Processes (Lava's model discovery imports every module in this folder: no side effects here)."""
