"""Molecular dynamics driven on device: NVE (velocity Verlet), Langevin NVT (BAOAB) and NPT
(BAOAB with isotropic stochastic cell rescaling, `orbjax.potential.barostat`).

A chunk of `interval` steps is one jitted `lax.fori_loop`: every step updates the neighbour
list (`orbjax.potential.neighbour_list`; a rebuild only after some atom moved skin/2),
evaluates the potential on it and integrates. Between chunks the host checks the list's
overflow flag: on overflow the chunk is thrown away, the list reallocated with more
capacity at the chunk's saved start, and the chunk redone. The Langevin noise of step k is
drawn from `fold_in(key, k)`, so a redone chunk (or a resumed run) is the same trajectory.

NPT changes the cell by isotropic scaling only, so the cell keeps its shape: cell = λ·h with h
the cell the list was allocated in. The list is kept in h (positions/λ, where every pair
distance is the true one divided by λ) with the cutoff raised to cutoff/`NPT_RANGE`, which
covers every true pair while λ ≥ `NPT_RANGE`; when λ leaves [NPT_RANGE, 1/NPT_RANGE] the step
raises the overflow flag and the host re-allocates the list in the present cell. The model
sees the true positions and cell; edges between the true cutoff and the raised one
contribute exactly zero (the envelope vanishes there).

With a committee (`orbjax.load_committee`) as the potential, every force call runs all
members (vmapped, on the one list), the atoms move on the members' mean forces and the state
carries the max over atoms of the force spread σ_F,i (eV/Å), which `thermo` reports.

Units: positions Å, velocities Å/fs, masses amu, time fs, energies eV, temperature K,
pressure and stress eV/Å³ (`barostat.GPA` converts), compressibility Å³/eV.

    md = MolecularDynamics.create(potential, atoms, "nvt", timestep=0.5, temperature=300)
    state, nbrs = md.initial_state(atoms.positions, md.maxwell_boltzmann(300, seed=0))
    for state, nbrs in md.run(state, nbrs, n_steps=1000, interval=10):   # one per chunk
        print(md.thermo(state))
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Iterator

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
from ase import units

from orbjax.potential.barostat import (
    COMPRESSIBILITY_PER_GPA,
    GPA,
    TIME_CONSTANT_FS,
    instantaneous_pressure,
    log_volume_increment,
)
from orbjax.potential.committee import _members, committee_neighbour_forces, force_spread
from orbjax.potential.neighbour_list import (
    NeighbourList,
    NeighbourListBuilder,
    neighbour_efs,
    neighbour_forces,
)

ACCELERATION = units.fs**2  # (eV/Å)/amu → Å/fs²
KINETIC = 0.5 / units.fs**2  # amu·(Å/fs)² → eV, with the ½
ENSEMBLES = ("nve", "nvt", "npt")
# NPT: the list stays exact while the cell's length scale is within [0.98, 1/0.98] of the
# cell it was allocated in (±6 % in volume), at the price of ~6 % more (zero) edges.
NPT_RANGE = 0.98


@flax.struct.dataclass
class MDState:
    """The dynamical state after `step` steps (a pytree; lives on the device)."""

    positions: jnp.ndarray  # [n, 3] Å, unwrapped (continuous in time)
    velocities: jnp.ndarray  # [n, 3] Å/fs
    forces: jnp.ndarray  # [n, 3] eV/Å at `positions`
    # [] eV, the network's potential energy at `positions`, without Σ E0 (`thermo` adds it)
    energy: jnp.ndarray
    step: jnp.ndarray  # [] int32
    cell: jnp.ndarray  # [3, 3] Å, rows are lattice vectors (zeros: no cell); changes in NPT only
    stress: jnp.ndarray  # [3, 3] eV/Å³ at `positions` (NPT only; zeros otherwise)
    # [] eV/Å committee: max over atoms of σ_F,i at `positions` (single potential: 0)
    force_std: jnp.ndarray


@dataclasses.dataclass(eq=False)
class MolecularDynamics:
    """One system (elements, masses, cell) under one ensemble with one potential.

    Attributes:
      potential: an `orbjax.Potential`.
      atomic_numbers: [n] int. masses: [n] amu. cell: [3, 3] Å of the input (zeros: none).
      builder: the neighbour-list builder (NPT: of the cell the list was last allocated in).
      ensemble: "nve", "nvt" or "npt". timestep: fs. temperature: K (NVT, NPT).
      friction: 1/fs (NVT, NPT). seed: of the Langevin and barostat noise.
      pressure: eV/Å³, compressibility: Å³/eV, barostat_time: fs (NPT; `barostat`).
    """

    potential: object
    atomic_numbers: np.ndarray
    masses: np.ndarray
    cell: np.ndarray
    builder: NeighbourListBuilder
    ensemble: str = "nve"
    timestep: float = 0.5
    temperature: float = 300.0
    friction: float = 0.01
    seed: int = 0
    pressure: float = 0.0
    compressibility: float = COMPRESSIBILITY_PER_GPA / GPA
    barostat_time: float = TIME_CONSTANT_FS
    reallocations: int = dataclasses.field(default=0, init=False)  # overflows recovered by `run`
    # step of an uncertainty stop (md_run)
    stopped_at: int | None = dataclasses.field(default=None, init=False)

    @classmethod
    def create(
        cls,
        potential,
        atoms,
        ensemble: str = "nve",
        timestep: float = 0.5,
        temperature: float = 300.0,
        friction: float = 0.01,
        seed: int = 0,
        skin: float = 0.5,
        headroom: float = 1.1,
        pressure: float = 0.0,
        compressibility: float = COMPRESSIBILITY_PER_GPA / GPA,
        barostat_time: float = TIME_CONSTANT_FS,
    ):
        """For the elements, masses and cell of ASE `atoms` (its positions are not used).
        NPT needs a cell periodic in all three directions; `pressure` eV/Å³ (× `GPA` for
        GPa), `compressibility` Å³/eV (≈ 1/bulk modulus: 0.01/GPa suits metals, water's is
        0.45/GPa), `barostat_time` fs."""
        if ensemble not in ENSEMBLES:
            raise ValueError(f"ensemble must be one of {ENSEMBLES}, not {ensemble!r}")
        if timestep <= 0 or friction < 0 or temperature < 0:
            raise ValueError(
                f"need timestep > 0, friction ≥ 0, temperature ≥ 0 "
                f"(got {timestep} fs, {friction} /fs, {temperature} K)"
            )
        name = atoms.get_chemical_formula() or "empty"
        if ensemble == "npt" and not (atoms.pbc.all() and atoms.cell.volume > 0):
            raise ValueError(
                f"{name}: NPT needs a cell periodic in all three directions, not pbc "
                f"{atoms.pbc.tolist()} and volume {atoms.cell.volume:.3g} Å³"
            )
        if compressibility < 0 or barostat_time <= 0:
            raise ValueError(
                f"need compressibility ≥ 0 and barostat_time > 0 "
                f"(got {compressibility} Å³/eV, {barostat_time} fs)"
            )
        potential.check_elements(atoms.numbers, name)
        periodic = bool(atoms.pbc.any())
        builder = potential.neighbour_list(
            atoms.cell.array if periodic else None,
            atoms.pbc if periodic else None,
            skin=skin,
            headroom=headroom,
        )
        return cls(
            potential,
            np.asarray(atoms.numbers, np.int32),
            np.asarray(atoms.get_masses(), np.float64),
            np.asarray(atoms.cell.array if periodic else np.zeros((3, 3)), np.float64),
            builder,
            ensemble=ensemble,
            timestep=float(timestep),
            temperature=float(temperature),
            friction=float(friction),
            seed=int(seed),
            pressure=float(pressure),
            compressibility=float(compressibility),
            barostat_time=float(barostat_time),
        )

    # ------------------------------------------------------------------ host side

    def initial_state(self, positions, velocities, cell=None) -> tuple[MDState, NeighbourList]:
        """The state at step 0 (or at a resumed step: set `step` with `.replace`) and its
        list; `cell` [3, 3] Å (NPT resumed: the saved one; default the input's)."""
        cell = self.cell if cell is None else np.asarray(cell, np.float64).reshape(3, 3)
        with self.potential.precision():
            dtype = self.potential.dtype
            if self.ensemble == "npt":  # the list lives in the present cell (λ = 1)
                self.builder = self._npt_builder(cell)
            nbrs = self.builder.allocate(np.asarray(positions, dtype))
            x, h = jnp.asarray(positions, dtype), jnp.asarray(cell, dtype)
            out, nbrs = self._compiled_evaluate(self.potential.variables, x, h, nbrs)
            stress = out["stress"] if self.ensemble == "npt" else jnp.zeros((3, 3), dtype)
            state = MDState(
                x,
                jnp.asarray(velocities, dtype),
                out["forces"],
                out["energy"],
                jnp.asarray(0, jnp.int32),
                h,
                stress,
                out["force_std"],
            )
        return state, nbrs

    def run(
        self, state: MDState, nbrs: NeighbourList, n_steps: int, interval: int
    ) -> Iterator[tuple[MDState, NeighbourList]]:
        """Advance `state` to step `n_steps` (total), yielding (state, list) every `interval`
        steps (and at `n_steps`). Overflows are recovered here; `self.reallocations` counts them."""
        if interval < 1:
            raise ValueError(f"interval must be ≥ 1, not {interval}")
        while int(state.step) < n_steps:
            length = min(interval - int(state.step) % interval, n_steps - int(state.step))
            with self.potential.precision():
                new_state, new_nbrs = self._chunk(self.potential.variables, state, nbrs, length)
                if bool(new_nbrs.overflow):  # the chunk is invalid: grow, redo from its start
                    if self.ensemble == "npt":  # (and re-centre the list on the present cell)
                        self.builder = self._npt_builder(np.asarray(state.cell, np.float64))
                    nbrs = self.builder.allocate(np.asarray(state.positions), previous=new_nbrs)
                    self.reallocations += 1
                    continue
            state, nbrs = new_state, new_nbrs
            yield state, nbrs

    def thermo(self, state: MDState) -> dict[str, float]:
        """step, time (fs), potential, kinetic and total energy (eV), temperature (K); NPT
        also volume (Å³) and the instantaneous pressure (GPa). The potential energy's Σ E0
        is added here, in float64, to the network's part the device integrates."""
        kinetic = float(
            KINETIC * np.sum(self.masses[:, None] * np.asarray(state.velocities, np.float64) ** 2)
        )
        potential = float(
            np.float64(state.energy) + self.potential.reference_energy(self.atomic_numbers)
        )
        out = {
            "step": int(state.step),
            "time_fs": int(state.step) * self.timestep,
            "potential_energy_eV": potential,
            "kinetic_energy_eV": kinetic,
            "total_energy_eV": potential + kinetic,
            "temperature_K": 2 * kinetic / (3 * len(self.masses) * units.kB),
        }
        if self.committee:
            out["max_force_std_eV_A"] = float(state.force_std)
        if self.ensemble == "npt":
            volume = abs(float(np.linalg.det(np.asarray(state.cell, np.float64))))
            pressure = instantaneous_pressure(kinetic, np.asarray(state.stress, np.float64), volume)
            out.update(volume_A3=volume, pressure_GPa=float(pressure) / GPA)
        return out

    def maxwell_boltzmann(self, temperature: float, seed: int) -> np.ndarray:
        """[n, 3] Å/fs: velocities at `temperature` K with zero total momentum."""
        rng = np.random.default_rng(seed)
        sigma = np.sqrt(units.kB * temperature / self.masses) * units.fs  # Å/fs
        v = rng.normal(size=(len(self.masses), 3)) * sigma[:, None]
        return v - (self.masses[:, None] * v).sum(0) / self.masses.sum()

    @property
    def committee(self) -> bool:
        """Whether the potential is a committee (its state carries the force spread)."""
        return getattr(self.potential, "n_members", 0) > 0

    # ------------------------------------------------------------------ device side

    @functools.cached_property
    def _compiled_evaluate(self):
        """(energy, forces, stress, force_std at `positions` in `cell`; list): the first state's."""

        def evaluate(params, x, cell, nbrs):
            if self.ensemble == "npt":
                energy, forces, stress, nbrs, spread = self._evaluate_stress(params, x, cell, nbrs)
            else:
                (energy, forces, nbrs, spread), stress = self._evaluate(params, x, nbrs), None
            return {"energy": energy, "forces": forces, "stress": stress, "force_std": spread}, nbrs

        return jax.jit(evaluate)

    @functools.cached_property
    def _compiled_chunk(self):
        return jax.jit(self._chunk_impl, static_argnums=3)

    def _chunk(self, params, state, nbrs, length: int):
        return self._compiled_chunk(params, state, nbrs, length)

    def _chunk_impl(self, params, state: MDState, nbrs: NeighbourList, length: int):
        step = {"nve": self._nve_step, "nvt": self._langevin_step, "npt": self._npt_step}[
            self.ensemble
        ]
        return jax.lax.fori_loop(0, length, lambda _, carry: step(params, *carry), (state, nbrs))

    def _npt_builder(self, cell) -> NeighbourListBuilder:
        """A builder for `cell` whose lists stay exact while the cell scales by ≥ NPT_RANGE."""
        return NeighbourListBuilder.create(
            self.potential.cutoff / NPT_RANGE,
            cell,
            self.builder.pbc,
            self.builder.skin,
            self.builder.headroom,
        )

    @functools.cached_property
    def _compiled_forces_stress(self):
        return jax.jit(self._new_forces_stress)

    def _combine(self, energies, forces):
        """Committee: the members' mean energy [] and forces [n, 3], and max_i σ_F,i [] eV/Å."""
        return energies.mean(0), forces.mean(0), jnp.max(force_spread(forces))

    def _accelerations(self, forces):
        return forces * jnp.asarray(ACCELERATION / self.masses, forces.dtype)[:, None]

    def _kinetic_energy(self, velocities):
        return KINETIC * jnp.sum(
            jnp.asarray(self.masses, velocities.dtype)[:, None] * velocities**2
        )

    def _key(self, step):
        return jax.random.fold_in(jax.random.PRNGKey(self.seed), step)

    def _new_forces(self, params, positions, nbrs):
        energy, forces, nbrs, _ = self._evaluate(params, positions, nbrs)
        return energy, forces, nbrs

    def _evaluate(self, params, positions, nbrs):
        """(network energy [] eV, forces [n, 3] eV/Å, list, max force spread [] eV/Å) at
        `positions`."""
        nbrs = nbrs.update(positions)
        z = jnp.asarray(self.atomic_numbers)
        if self.committee:
            energies, forces = committee_neighbour_forces(
                self.potential.model,
                params,
                positions,
                z,
                nbrs,
                level=self.potential.level,
                mode=self.potential.mode,
            )
            energy, forces, spread = self._combine(energies, forces)
            return energy, forces, nbrs, spread
        energy, forces = neighbour_forces(
            self.potential.model, params, positions, z, nbrs, level=self.potential.level
        )
        return energy, forces, nbrs, jnp.zeros((), forces.dtype)

    def _new_forces_stress(self, params, positions, cell, nbrs):
        """NPT: energy, forces, stress at `positions` in `cell` (= λ × the list's cell), and
        the list, updated in the list's cell; overflow also when λ left its range."""
        return self._evaluate_stress(params, positions, cell, nbrs)[:4]

    def _evaluate_stress(self, params, positions, cell, nbrs):
        """`_new_forces_stress` and the max force spread [] eV/Å (committee; else 0)."""
        reference = abs(float(np.linalg.det(nbrs.builder.cell_array())))
        scale = jnp.cbrt(jnp.abs(jnp.linalg.det(cell)) / reference)  # λ
        nbrs = nbrs.update(positions / scale)
        nbrs = nbrs.replace(overflow=nbrs.overflow | (scale < NPT_RANGE) | (scale > 1 / NPT_RANGE))
        z = jnp.asarray(self.atomic_numbers)
        if self.committee:
            out = _members(
                neighbour_efs,
                self.potential.model,
                params,
                positions,
                z,
                nbrs,
                cell,
                level=self.potential.level,
                mode=self.potential.mode,
            )
            energy, forces, spread = self._combine(out["network_energy"], out["forces"])
            return energy, forces, out["stress"].mean(0), nbrs, spread
        out = neighbour_efs(
            self.potential.model, params, positions, z, nbrs, cell, level=self.potential.level
        )
        return (
            out["network_energy"],
            out["forces"],
            out["stress"],
            nbrs,
            jnp.zeros((), positions.dtype),
        )

    def _nve_step(self, params, state: MDState, nbrs):
        """Velocity Verlet (the scheme of ase.md.verlet.VelocityVerlet)."""
        dt = self.timestep
        v = state.velocities + 0.5 * dt * self._accelerations(state.forces)
        x = state.positions + dt * v
        energy, forces, nbrs, spread = self._evaluate(params, x, nbrs)
        v = v + 0.5 * dt * self._accelerations(forces)
        return state.replace(
            positions=x,
            velocities=v,
            forces=forces,
            energy=energy,
            step=state.step + 1,
            force_std=spread,
        ), nbrs

    def _langevin_step(self, params, state: MDState, nbrs):
        def evaluate(x, nbrs):
            energy, forces, nbrs, spread = self._evaluate(params, x, nbrs)
            return energy, forces, state.stress, nbrs, spread

        return self._baoab(state, state.positions, state.velocities, state.cell, nbrs, evaluate)

    def _npt_step(self, params, state: MDState, nbrs):
        """Stochastic cell rescaling from the pressure at the step's start (its forces are
        not recomputed after the ~1e-5 scaling, as in GROMACS), then a BAOAB step in the
        new cell, whose force call also gives the stress for the next step."""
        volume = jnp.abs(jnp.linalg.det(state.cell))
        pressure = instantaneous_pressure(
            self._kinetic_energy(state.velocities), state.stress, volume
        )
        d_log_volume = log_volume_increment(
            jax.random.fold_in(self._key(state.step), 1),
            volume,
            pressure,
            self.pressure,
            units.kB * self.temperature,
            self.compressibility,
            self.barostat_time,
            self.timestep,
        )
        scale = jnp.exp(d_log_volume / 3.0)
        cell = scale * state.cell
        return self._baoab(
            state,
            scale * state.positions,
            state.velocities / scale,
            cell,
            nbrs,
            lambda x, nbrs: self._evaluate_stress(params, x, cell, nbrs),
        )

    def _baoab(self, state: MDState, x, v, cell, nbrs, evaluate):
        """BAOAB Langevin (Leimkuhler & Matthews) from (x, v) with `state`'s forces: half
        kick, half drift, exact Ornstein-Uhlenbeck velocity update, half drift, new forces
        (`evaluate(x, nbrs)` → energy, forces, stress, list, force spread), half kick."""
        dt, dtype = self.timestep, x.dtype
        c1 = np.exp(-self.friction * dt)
        # [n] Å/fs
        sigma = np.sqrt((1 - c1**2) * units.kB * self.temperature / self.masses) * units.fs
        noise = jax.random.normal(self._key(state.step), v.shape, dtype)
        v = v + 0.5 * dt * self._accelerations(state.forces)
        x = x + 0.5 * dt * v
        v = c1 * v + jnp.asarray(sigma, dtype)[:, None] * noise
        x = x + 0.5 * dt * v
        energy, forces, stress, nbrs, spread = evaluate(x, nbrs)
        v = v + 0.5 * dt * self._accelerations(forces)
        return MDState(x, v, forces, energy, state.step + 1, cell, stress, spread), nbrs
