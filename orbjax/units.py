"""Unit conversions: the one place for them.

orbjax works in eV, Å, eV/Å, eV/Å³ and elementary charges everywhere. tblite works in
atomic units (Bohr, Hartree); ANI/COMP6 HDF5 files store energies in Hartree.
Values are those of ``ase.units`` (CODATA 2014 in ASE 3.2x), so orbjax and ASE never disagree.
"""

from ase import units as _ase_units

BOHR = _ase_units.Bohr  # Å per Bohr
HARTREE = _ase_units.Hartree  # eV per Hartree
HARTREE_PER_BOHR = HARTREE / BOHR  # eV/Å per Hartree/Bohr
DEBYE = _ase_units.Debye  # e·Å per Debye
EV_TO_MEV = 1000.0
