"""Cheap pretraining data: GFN1-xTB Langevin MD of many molecules, labelled along the way.

For each molecule (a SMILES string, embedded with RDKit ETKDG + MMFF, or a given structure):
Maxwell–Boltzmann velocities at a temperature drawn from `SampleSettings.temperatures`,
ASE Langevin dynamics on the GFN1-xTB surface (tblite, in-process, one calculator per
molecule, each step's SCF started from the previous step's wavefunction), `n_equilibrate`
steps, then `n_frames` frames `interval` steps apart. A kept frame costs no extra SCF: its
labels are those of the MD step itself, the same keys and values `orbjax.label` gives
(energy, forces, charges, shell and per-orbital populations; `orbjax.labels.xtb`).

Each molecule draws its temperature, velocities and noise from its own seed (the run's
seed and the molecule's position in the input), so a molecule's frames do not depend on
which worker ran it or whether the run was interrupted: a resumed run writes what an
uninterrupted one writes. Molecules are taken in a fixed random order (`order_seed`), so
that the first k finished chunks are a random subset of the input (pretraining-size
curves use prefixes).

Units: temperatures K, time step fs, energies eV, forces eV/Å, populations e.
"""

from __future__ import annotations

import dataclasses
import warnings
import zlib

import numpy as np

from orbjax.data.structures import Structure, StructureError
from orbjax.labels.xtb import (
    DEFAULT_RETRIES,
    XtbResult,
    check_structure,
    labels_of,
    result_of,
    run_xtb,
)
from orbjax.units import BOHR, HARTREE, HARTREE_PER_BOHR


@dataclasses.dataclass(frozen=True)
class SampleSettings:
    """How each molecule's trajectory is run and sampled.

    Attributes:
      temperatures: K; each molecule draws one (as the CHNO DFT set's recipe does).
      timestep_fs: MD time step, fs.
      friction: Langevin friction in ASE's inverse time unit (0.02 ≈ 2×10⁻³ fs⁻¹, the
        CHNO DFT set's recipe).
      n_equilibrate: steps before the first kept frame.
      n_frames: frames kept per molecule.
      interval: steps between kept frames.
      orbitals: also record shell and per-orbital populations (tblite keeps the density
        and overlap matrices at the kept steps only: ~15 % of the MD's cost otherwise).
      max_iter: SCF iterations before the retries of `orbjax.labels.xtb.run_xtb`.
    """

    temperatures: tuple[float, ...] = (300.0, 500.0, 800.0)
    timestep_fs: float = 0.5
    friction: float = 0.02
    n_equilibrate: int = 40
    n_frames: int = 5
    interval: int = 40
    orbitals: bool = True
    max_iter: int = 250

    def __post_init__(self):
        if not self.temperatures or min(self.temperatures) <= 0:
            raise ValueError(f"temperatures must be positive kelvin, not {self.temperatures!r}")
        if self.timestep_fs <= 0 or self.friction < 0:
            raise ValueError("timestep_fs must be > 0 and friction ≥ 0")
        if self.n_frames < 1 or self.interval < 1 or self.n_equilibrate < 0:
            raise ValueError("n_frames and interval must be ≥ 1, n_equilibrate ≥ 0")

    @property
    def n_steps(self) -> int:
        """MD steps per molecule (the first frame is the state after `n_equilibrate` steps)."""
        return self.n_equilibrate + (self.n_frames - 1) * self.interval

    def kept_steps(self) -> list[int]:
        return [self.n_equilibrate + k * self.interval for k in range(self.n_frames)]


def molecule_seed(seed: int, index: int) -> int:
    """Seed of the molecule at input position `index` (independent of workers and chunks)."""
    return zlib.crc32(f"{seed}:{index}".encode())


def embed_smiles(smiles: str, seed: int, name: str, mol_id: str | None = None) -> Structure:
    """3D structure from SMILES: RDKit ETKDG (seeded) + MMFF, all hydrogens explicit.

    Raises StructureError when RDKit cannot parse or embed the molecule.
    """
    from rdkit import Chem, RDLogger
    from rdkit.Chem import AllChem

    RDLogger.DisableLog("rdApp.*")
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise StructureError(name, f"RDKit cannot parse SMILES {smiles!r}")
    mol = Chem.AddHs(mol)
    if AllChem.EmbedMolecule(mol, randomSeed=int(seed) % 2**31) != 0:
        raise StructureError(name, f"RDKit embedding failed for {smiles!r}")
    AllChem.MMFFOptimizeMolecule(mol)
    return Structure(
        atomic_numbers=[a.GetAtomicNum() for a in mol.GetAtoms()],
        positions=mol.GetConformer().GetPositions(),
        name=name,
        mol_id=mol_id,
        charge=float(Chem.GetFormalCharge(mol)),
        info={"smiles": smiles},
    )


class _TBLiteSurface:
    """GFN1-xTB energy and forces along a trajectory, one tblite calculator, warm SCF starts."""

    def __init__(self, structure: Structure, settings: SampleSettings):
        from tblite.interface import Calculator  # late: workers set OMP_NUM_THREADS first

        self.structure, self.settings = structure, settings
        self.calc = Calculator(
            "GFN1-xTB",
            structure.atomic_numbers,
            structure.positions / BOHR,
            charge=float(structure.charge),
            uhf=int(structure.multiplicity - 1),
        )
        self.calc.set("verbosity", 0)
        self.calc.set("max-iter", int(settings.max_iter))
        self.integrals = False  # keep P and S of the next single points (kept frames only)
        self.result = None  # tblite Result of the last step: the next step's SCF guess

    def keep_integrals(self, on: bool) -> None:
        if on != self.integrals:
            self.calc.set("save-integrals", int(on))
            self.integrals = on

    def evaluate(self, positions: np.ndarray) -> XtbResult:
        """Single point at `positions` (Å); on SCF failure a fresh `run_xtb` with retries."""
        from tblite.exceptions import TBLiteRuntimeError

        self.calc.update(positions / BOHR)
        try:
            self.result = (
                self.calc.singlepoint(self.result)
                if self.result is not None
                else self.calc.singlepoint()
            )
            return result_of(self.calc, self.result, self.structure.name, self.integrals)
        except TBLiteRuntimeError:
            self.result = None  # start the next step from scratch too
            s = self.structure.replace(positions=positions)
            return run_xtb(
                s,
                save_integrals=self.integrals,
                max_iter=self.settings.max_iter,
                retries=DEFAULT_RETRIES,
            )


def sample_molecule(structure: Structure, seed: int, settings: SampleSettings) -> list[Structure]:
    """GFN1-xTB Langevin MD of one molecule; the kept frames with their labels.

    Frames are named ``{name}/f{k}`` and carry ``md_temperature`` (K), ``md_time_fs`` and
    ``frame`` in `info`, and the molecule's ``mol_id``.

    Raises StructureError (embedding, charge, or SCF failure after all retries).
    """
    from ase import Atoms, units
    from ase.calculators.calculator import Calculator, all_changes
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    if structure.is_periodic:
        raise StructureError(structure.name, "the sampler runs molecules only (no periodic cells)")
    check_structure(structure)
    surface = _TBLiteSurface(structure, settings)
    last: dict = {}

    class _Calc(Calculator):
        implemented_properties = ["energy", "forces"]

        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
            super().calculate(atoms, properties, system_changes)
            res = surface.evaluate(self.atoms.get_positions())
            last["result"], last["positions"] = res, self.atoms.get_positions().copy()
            self.results = {
                "energy": res.energy * HARTREE,
                "forces": -res.gradient * HARTREE_PER_BOHR,
            }

    rng = np.random.default_rng(seed)
    temperature = float(rng.choice(np.asarray(settings.temperatures, float)))
    atoms = Atoms(numbers=structure.atomic_numbers, positions=structure.positions)
    atoms.calc = _Calc()
    MaxwellBoltzmannDistribution(atoms, temperature_K=temperature, rng=rng)
    with warnings.catch_warnings():  # fixcm=True (ASE's default) kept: the CHNO DFT set's recipe
        warnings.simplefilter("ignore", FutureWarning)
        dyn = Langevin(
            atoms,
            settings.timestep_fs * units.fs,
            temperature_K=temperature,
            friction=settings.friction,
            rng=rng,
        )
    frames, done = [], 0
    for k, step in enumerate(settings.kept_steps()):
        if step > done:
            dyn.run(step - done - 1)
            surface.keep_integrals(settings.orbitals)
            dyn.run(1)  # its force call is the kept frame's single point
        else:  # a frame at step 0: the first force call
            surface.keep_integrals(settings.orbitals)
        done = step
        atoms.get_forces()  # the state at `step` (computed by the last MD step, or now at step 0)
        surface.keep_integrals(False)
        positions = last["positions"]
        frame = structure.replace(
            positions=positions,
            name=f"{structure.name}/f{k}",
            labels={},
            info={
                **structure.info,
                "md_temperature": temperature,
                "md_time_fs": step * settings.timestep_fs,
                "frame": k,
            },
        )
        frame.labels = labels_of(last["result"], frame, "GFN1-xTB", settings.orbitals)
        frames.append(frame)
    return frames
