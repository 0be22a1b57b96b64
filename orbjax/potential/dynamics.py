"""Molecular dynamics driven on device: NVE (velocity Verlet) and Langevin NVT (BAOAB).

A chunk of `interval` steps is one jitted `lax.fori_loop`: every step updates the neighbour
list (`orbjax.potential.neighbour_list`; a rebuild only after some atom moved skin/2),
evaluates the potential on it and integrates. Between chunks the host checks the list's
overflow flag: on overflow the chunk is thrown away, the list reallocated with more
capacity at the chunk's saved start, and the chunk redone. The Langevin noise of step k is
drawn from `fold_in(key, k)`, so a redone chunk (or a resumed run) is the same trajectory.

Units: positions Å, velocities Å/fs, masses amu, time fs, energies eV, temperature K.

    md = MolecularDynamics.create(potential, atoms, "nvt", timestep=0.5, temperature=300)
    for state in md.run(state, n_steps=1000, interval=10):   # one state per chunk
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

from orbjax.potential.neighbour_list import NeighbourList, NeighbourListBuilder, neighbour_forces

ACCELERATION = units.fs ** 2  # (eV/Å)/amu → Å/fs²
KINETIC = 0.5 / units.fs ** 2  # amu·(Å/fs)² → eV, with the ½
ENSEMBLES = ("nve", "nvt")


@flax.struct.dataclass
class MDState:
    """The dynamical state after `step` steps (a pytree; lives on the device)."""

    positions: jnp.ndarray  # [n, 3] Å, unwrapped (continuous in time)
    velocities: jnp.ndarray  # [n, 3] Å/fs
    forces: jnp.ndarray  # [n, 3] eV/Å at `positions`
    energy: jnp.ndarray  # [] eV, potential energy at `positions`
    step: jnp.ndarray  # [] int32


@dataclasses.dataclass(eq=False)
class MolecularDynamics:
    """One system (elements, masses, fixed cell) under one ensemble with one potential.

    Attributes:
      potential: an `orbjax.Potential`.
      atomic_numbers: [n] int. masses: [n] amu.
      builder: the neighbour-list builder for the cell.
      ensemble: "nve" or "nvt". timestep: fs. temperature: K (NVT). friction: 1/fs (NVT).
      seed: of the Langevin noise.
    """

    potential: object
    atomic_numbers: np.ndarray
    masses: np.ndarray
    builder: NeighbourListBuilder
    ensemble: str = "nve"
    timestep: float = 0.5
    temperature: float = 300.0
    friction: float = 0.01
    seed: int = 0
    reallocations: int = dataclasses.field(default=0, init=False)  # overflows recovered by `run`

    @classmethod
    def create(cls, potential, atoms, ensemble: str = "nve", timestep: float = 0.5, temperature: float = 300.0,
               friction: float = 0.01, seed: int = 0, skin: float = 0.5, headroom: float = 1.1):
        """For the elements, masses and cell of ASE `atoms` (its positions are not used)."""
        if ensemble not in ENSEMBLES:
            raise ValueError(f"ensemble must be one of {ENSEMBLES}, not {ensemble!r}")
        if timestep <= 0 or friction < 0 or temperature < 0:
            raise ValueError(f"need timestep > 0, friction ≥ 0, temperature ≥ 0 "
                             f"(got {timestep} fs, {friction} /fs, {temperature} K)")
        potential.check_elements(atoms.numbers, atoms.get_chemical_formula() or "empty")
        periodic = bool(atoms.pbc.any())
        builder = potential.neighbour_list(atoms.cell.array if periodic else None, atoms.pbc if periodic else None,
                                           skin=skin, headroom=headroom)
        return cls(potential, np.asarray(atoms.numbers, np.int32), np.asarray(atoms.get_masses(), np.float64),
                   builder, ensemble, float(timestep), float(temperature), float(friction), int(seed))

    # ------------------------------------------------------------------ host side

    def initial_state(self, positions, velocities) -> tuple[MDState, NeighbourList]:
        """The state at step 0 (or at a resumed step: set `step` with `.replace`) and its list."""
        with self.potential.precision():
            dtype = self.potential.dtype
            nbrs = self.builder.allocate(np.asarray(positions, dtype))
            x = jnp.asarray(positions, dtype)
            energy, forces = self._forces(self.potential.params, x, nbrs)
            state = MDState(x, jnp.asarray(velocities, dtype), forces, energy, jnp.asarray(0, jnp.int32))
        return state, nbrs

    def run(self, state: MDState, nbrs: NeighbourList, n_steps: int, interval: int
            ) -> Iterator[tuple[MDState, NeighbourList]]:
        """Advance `state` to step `n_steps` (total), yielding (state, list) every `interval`
        steps (and at `n_steps`). Overflows are recovered here; `self.reallocations` counts them."""
        if interval < 1:
            raise ValueError(f"interval must be ≥ 1, not {interval}")
        while int(state.step) < n_steps:
            length = min(interval - int(state.step) % interval, n_steps - int(state.step))
            with self.potential.precision():
                new_state, new_nbrs = self._chunk(self.potential.params, state, nbrs, length)
                if bool(new_nbrs.overflow):  # the chunk is invalid: grow, redo from its start
                    nbrs = self.builder.allocate(np.asarray(state.positions), previous=new_nbrs)
                    self.reallocations += 1
                    continue
            state, nbrs = new_state, new_nbrs
            yield state, nbrs

    def thermo(self, state: MDState) -> dict[str, float]:
        """step, time (fs), potential, kinetic and total energy (eV), temperature (K)."""
        kinetic = float(KINETIC * np.sum(self.masses[:, None] * np.asarray(state.velocities, np.float64) ** 2))
        potential = float(state.energy)
        return {"step": int(state.step), "time_fs": int(state.step) * self.timestep,
                "potential_energy_eV": potential, "kinetic_energy_eV": kinetic,
                "total_energy_eV": potential + kinetic,
                "temperature_K": 2 * kinetic / (3 * len(self.masses) * units.kB)}

    def maxwell_boltzmann(self, temperature: float, seed: int) -> np.ndarray:
        """[n, 3] Å/fs: velocities at `temperature` K with zero total momentum."""
        rng = np.random.default_rng(seed)
        sigma = np.sqrt(units.kB * temperature / self.masses) * units.fs  # Å/fs
        v = rng.normal(size=(len(self.masses), 3)) * sigma[:, None]
        return v - (self.masses[:, None] * v).sum(0) / self.masses.sum()

    # ------------------------------------------------------------------ device side

    def _forces(self, params, positions, nbrs):
        return self._compiled_forces(params, positions, jnp.asarray(self.atomic_numbers), nbrs)

    @functools.cached_property
    def _compiled_forces(self):
        return jax.jit(functools.partial(neighbour_forces, self.potential.model))

    @functools.cached_property
    def _compiled_chunk(self):
        return jax.jit(self._chunk_impl, static_argnums=3)

    def _chunk(self, params, state, nbrs, length: int):
        return self._compiled_chunk(params, state, nbrs, length)

    def _chunk_impl(self, params, state: MDState, nbrs: NeighbourList, length: int):
        step = self._nve_step if self.ensemble == "nve" else self._langevin_step
        return jax.lax.fori_loop(0, length, lambda _, carry: step(params, *carry), (state, nbrs))

    def _accelerations(self, forces):
        return forces * jnp.asarray(ACCELERATION / self.masses, forces.dtype)[:, None]

    def _new_forces(self, params, positions, nbrs):
        nbrs = nbrs.update(positions)
        energy, forces = neighbour_forces(self.potential.model, params, positions, jnp.asarray(self.atomic_numbers),
                                          nbrs)
        return energy, forces, nbrs

    def _nve_step(self, params, state: MDState, nbrs):
        """Velocity Verlet (the scheme of ase.md.verlet.VelocityVerlet)."""
        dt = self.timestep
        v = state.velocities + 0.5 * dt * self._accelerations(state.forces)
        x = state.positions + dt * v
        energy, forces, nbrs = self._new_forces(params, x, nbrs)
        v = v + 0.5 * dt * self._accelerations(forces)
        return MDState(x, v, forces, energy, state.step + 1), nbrs

    def _langevin_step(self, params, state: MDState, nbrs):
        """BAOAB Langevin (Leimkuhler & Matthews): half kick, half drift, exact
        Ornstein-Uhlenbeck velocity update, half drift, new forces, half kick."""
        dt, dtype = self.timestep, state.positions.dtype
        c1 = np.exp(-self.friction * dt)
        sigma = np.sqrt((1 - c1 ** 2) * units.kB * self.temperature / self.masses) * units.fs  # [n] Å/fs
        key = jax.random.fold_in(jax.random.PRNGKey(self.seed), state.step)
        noise = jax.random.normal(key, state.velocities.shape, dtype)
        v = state.velocities + 0.5 * dt * self._accelerations(state.forces)
        x = state.positions + 0.5 * dt * v
        v = c1 * v + jnp.asarray(sigma, dtype)[:, None] * noise
        x = x + 0.5 * dt * v
        energy, forces, nbrs = self._new_forces(params, x, nbrs)
        v = v + 0.5 * dt * self._accelerations(forces)
        return MDState(x, v, forces, energy, state.step + 1), nbrs

