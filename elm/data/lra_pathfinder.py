"""A numpy Pathfinder generator (after Linsley et al. 2018 / github.com/drewlinsley/pathfinder).

Each image holds two long target paths and a few short distractors, all curved chains of short
dashes ("paddles") that never touch one another. Two circle markers sit on path ends: on both
ends of one target path (label 1, connected) or on the start of one and the end of the other
(label 0). As in the original, both targets grow from seeds a fixed distance apart and every
choice that shapes the picture is made before the label, so only the markers' placement tells
the classes apart: the pixel count and the number and length of paths have the same distribution
under both labels. The markers' distance does too at LRA's 14 dashes, but not on shorter paths,
whose two ends stay close together (:func:`marker_distance` measures that cue).

Paths grow one dash at a time in a direction that turns by at most ``turn`` (twice that as a
fallback), drawn among free candidates with weight (1 + free look-ahead probes)^2 so long paths
curl away from walls instead of running into them. A path may only use pixels outside the "halo"
(pixels dilated by ``margin``) of every other path and marker, so distinct paths are never
8-connected. Scenes are grown for a whole batch of images at once (numpy over the batch);
a scene whose target path gets stuck is dropped and drawn again. ``draw_pathfinder`` also
returns the clean picture (solid paths), on which the label equals "both markers lie in one
8-connected component" exactly.

Files follow the LRA release (``<out>/<difficulty>/imgs/<batch>/sample_<i>.png`` and
``<out>/<difficulty>/metadata/<batch>.npy``, a text file whose line per image is
``imgs/<batch> sample_<i>.png <i> <label> <turn> <contour length> <distractor length>
<paddle length> <thickness> <margin> 1``, the original's columns).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from elm.data.lra_common import mark_generated

#: Dashes per target path for each difficulty folder. The last three are the release's; the
#: generator also draws ``curv_contour_length_2``, which the release does not have: paths so short
#: that connected markers lie closer together than unconnected ones (a proximity cue the longer
#: difficulties give less of, or none), the Pathfinder the book's demo trains on. Readers of real
#: data accept it only where it was generated.
CONTOUR_LENGTHS = {"curv_contour_length_2": 2, "curv_baseline": 6, "curv_contour_length_9": 9,
                   "curv_contour_length_14": 14}
PER_BATCH = 1000  # images per imgs/<batch> folder and metadata file
EndRule = Callable[[np.ndarray, np.ndarray], np.ndarray]
WALL = np.uint32(1 << 31)  # halo bit of the image frame


@dataclass(frozen=True)
class Style:
    """Drawing parameters of one resolution (scaled from LRA's generator settings)."""

    size: int
    paddle: float         # drawn length of one dash, pixels
    gap: float            # blank between dashes
    thickness: int        # 1 or 2 pixels
    marker_radius: float
    seed_distance: float  # between the two targets' starting points (LRA: 7 at 32, 20 at 128)
    margin: int           # minimum blank pixels between different paths
    turn: float           # largest direction change from one dash to the next, radians
    distractor_budget: int  # LRA: num_distractor_snakes = budget // distractor_length
    tries: int = 16       # candidate directions per dash

    @property
    def step(self) -> float:
        return self.paddle + self.gap


STYLES = {
    32: Style(32, paddle=2.0, gap=1.0, thickness=1, marker_radius=1.5, seed_distance=7.0,
              margin=1, turn=0.8, distractor_budget=20),
    128: Style(128, paddle=5.0, gap=3.0, thickness=2, marker_radius=3.0, seed_distance=20.0,
               margin=2, turn=0.5, distractor_budget=35),
}


def _offsets(radius: float) -> np.ndarray:
    """Integer (dy, dx) within `radius` of the origin."""
    r = int(np.ceil(radius))
    dy, dx = np.mgrid[-r:r + 1, -r:r + 1]
    keep = dy ** 2 + dx ** 2 <= radius ** 2 + 1e-9
    return np.stack([dy[keep], dx[keep]], axis=1)


class _Scenes:
    """Geometry of `n` scenes grown together, in padded coordinates (frame = WALL bit).

    ``halo`` holds one bit per path; ``owner``/``age`` the path and dash index of each solid
    pixel, for the no-folding-back rule.
    """

    def __init__(self, st: Style, n: int, rng: np.random.Generator) -> None:
        self.st, self.n, self.rng = st, n, rng
        self.pad = pad = int(np.ceil(st.step + st.marker_radius)) + st.margin + 2
        side = st.size + 2 * pad
        self.halo = np.full((n, side, side), WALL, dtype=np.uint32)
        self.halo[:, pad + 1:pad + st.size - 1, pad + 1:pad + st.size - 1] = 0
        self.owner = np.full((n, side, side), -1, dtype=np.int8)
        self.age = np.zeros((n, side, side), dtype=np.int16)
        m = st.margin
        self.dilate = np.stack(np.mgrid[-m:m + 1, -m:m + 1], axis=-1).reshape(-1, 2)
        self.disc = _offsets(st.marker_radius)
        self.t_solid = np.linspace(0.0, 1.0, int(np.ceil(2 * st.step)) + 2)
        # the dash is the first paddle/step of the solid segment: its pixels are a subset
        self.in_dash = np.tile(self.t_solid <= st.paddle / st.step + 1e-9, st.thickness)
        self.rows = np.arange(n)

    # ---- pixel sets, all (k, ..., 2) integer arrays with matching row indices `idx` (k,)

    def raster(self, tips: np.ndarray, ends: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Pixels of segments tips (k, 2) -> ends (k, T, 2): (k, T, n_points, 2)."""
        d = ends - tips[:, None]
        pts = tips[:, None, None] + t[None, None, :, None] * d[:, :, None]
        if self.st.thickness > 1:
            normal = np.stack([-d[..., 1], d[..., 0]], axis=-1)[:, :, None] / self.st.step
            pts = np.concatenate([pts - 0.5 * normal, pts + 0.5 * normal], axis=2)
        return np.rint(pts).astype(np.intp)

    def foreign(self, idx: np.ndarray, pix: np.ndarray, bit: np.uint32) -> np.ndarray:
        """For pixel sets (k, ..., n, 2): does any pixel touch another path's halo or the
        frame? Shape (k, ...)."""
        rows = idx.reshape(idx.shape + (1,) * (pix.ndim - 2))
        vals = self.halo[rows, pix[..., 0], pix[..., 1]]
        return ((vals & ~bit) != 0).any(axis=-1)

    def claim(self, idx: np.ndarray, pix: np.ndarray, bit: np.uint32) -> None:
        """Add `pix` (k, n, 2) and its margin to the halo of `bit`."""
        if len(idx) == 0:
            return
        grown = (pix[:, :, None, :] + self.dilate[None, None]).reshape(len(idx), -1, 2)
        rows = idx[:, None]
        self.halo[rows, grown[..., 0], grown[..., 1]] |= bit

    def room(self, idx: np.ndarray, ends: np.ndarray, headings: np.ndarray, bit: np.uint32
             ) -> np.ndarray:
        """How open the way ahead of each candidate end (k, T, 2) is: free probe pixels at one
        and two steps on, straight and 0.6 rad to either side (a cheap look-ahead)."""
        fan = headings[..., None] + np.array([-0.6, 0.0, 0.6])
        unit = np.stack([np.sin(fan), np.cos(fan)], axis=-1)[..., None, :, :]  # (k, T, 1, 3, 2)
        reach = self.st.step * np.array([1.0, 2.0])[:, None, None]
        probes = np.rint(ends[..., None, None, :] + reach * unit).astype(np.intp)
        size = self.halo.shape[1] - 1
        probes = np.clip(probes, 0, size).reshape(*ends.shape[:2], 6, 2)
        vals = self.halo[idx[:, None, None], probes[..., 0], probes[..., 1]]
        return ((vals & ~bit) == 0).sum(axis=-1)

    # ---- growth

    def _candidates(self, idx: np.ndarray, owner: int, tips: np.ndarray,
                    headings: np.ndarray | None, dash: int, spread: float
                    ) -> tuple[np.ndarray, ...]:
        st = self.st
        k = len(idx)
        if headings is None:
            cand = self.rng.uniform(-np.pi, np.pi, (k, st.tries))
        else:
            cand = headings[:, None] + self.rng.uniform(-spread, spread, (k, st.tries))
        direction = np.stack([np.sin(cand), np.cos(cand)], axis=-1)
        ends = tips[:, None] + st.step * direction
        solid = self.raster(tips, ends, self.t_solid)
        bit = np.uint32(1 << owner)
        ok = ~self.foreign(idx, solid, bit)
        if dash >= 2:  # no folding back onto the path's own older dashes
            rows = idx[:, None, None]
            own = self.owner[rows, solid[..., 0], solid[..., 1]] == owner
            older = self.age[rows, solid[..., 0], solid[..., 1]] < dash - 1
            ok &= ~(own & older).any(axis=-1)
        return cand, ends, solid, ok

    def grow(self, alive: np.ndarray, owner: int, tips: np.ndarray,
             headings: np.ndarray | None, dash: int, last: EndRule | None = None
             ) -> tuple[np.ndarray, ...]:
        """One dash for every alive scene. Returns new tips, headings, solid and dashed pixels
        (all (n, ...)) and the updated alive mask. `last` vets candidate end points (k, T)."""
        st = self.st
        idx = self.rows[alive]
        heads = None if headings is None else headings[idx]
        cand, ends, solid, ok = self._candidates(idx, owner, tips[idx], heads, dash, st.turn)
        if last is not None:
            ok &= last(idx, ends)
        retry = ~ok.any(axis=1)
        if heads is not None and retry.any():
            sub = self._candidates(idx[retry], owner, tips[idx][retry], heads[retry], dash,
                                   2 * st.turn)
            if last is not None:
                sub[3][...] &= last(idx[retry], sub[1])
            for full, part in zip((cand, ends, solid, ok), sub, strict=True):
                full[retry] = part
        bit = np.uint32(1 << owner)
        weight = (self.room(idx, ends, cand, bit) + 1.0) ** 2 * ok
        total = weight.sum(axis=1)
        u = self.rng.random(len(idx)) * total
        pick = np.minimum((np.cumsum(weight, axis=1) <= u[:, None]).sum(axis=1), st.tries - 1)
        good = total > 0
        row = np.arange(len(idx))
        new_tips, new_heads = tips.copy(), np.zeros(self.n)
        if headings is not None:
            new_heads[:] = headings
        new_tips[idx] = ends[row, pick]
        new_heads[idx] = cand[row, pick]
        chosen = solid[row, pick]
        dashes = chosen[:, self.in_dash]
        gi = idx[good]
        self.claim(gi, chosen[good], bit)
        self.owner[gi[:, None], chosen[good][..., 0], chosen[good][..., 1]] = owner
        self.age[gi[:, None], chosen[good][..., 0], chosen[good][..., 1]] = dash
        out_solid = np.zeros((self.n, *chosen.shape[1:]), dtype=np.intp)
        out_dash = np.zeros((self.n, *dashes.shape[1:]), dtype=np.intp)
        out_solid[idx], out_dash[idx] = chosen, dashes
        alive = alive.copy()
        alive[idx[~good]] = False
        return new_tips, new_heads, out_solid, out_dash, alive

    def grow_path(self, alive: np.ndarray, owner: int, start: np.ndarray, n_dashes: int
                  ) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray, np.ndarray]:
        """A whole path per scene (used for distractors)."""
        tips, heads = start.astype(np.float64), None
        solids, dashes = [], []
        for dash in range(n_dashes):
            tips, heads, solid, dashed, alive = self.grow(alive, owner, tips, heads, dash)
            solids.append(solid)
            dashes.append(dashed)
        return solids, dashes, tips, alive

    def place_distractor(self, alive: np.ndarray, owner: int, n_dashes: int, tries: int = 3
                         ) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
        """A short path from a random free start, retried elsewhere where it got stuck (its
        partial pixels are given back first)."""
        st = self.st
        bit = np.uint32(1 << owner)
        placed = np.zeros(self.n, dtype=bool)
        solids = [np.zeros((self.n, len(self.t_solid) * st.thickness, 2), np.intp)
                  for _ in range(n_dashes)]
        dashes = [np.zeros((self.n, int(self.in_dash.sum()), 2), np.intp)
                  for _ in range(n_dashes)]
        for _ in range(tries):
            todo = alive & ~placed
            start = np.rint(self.rng.uniform(self.pad + 2, self.pad + st.size - 3, (self.n, 2)))
            todo &= ~self.foreign(self.rows, start.astype(np.intp)[:, None], np.uint32(0))
            s_d, d_d, _, ok = self.grow_path(todo, owner, start, n_dashes)
            for full, part in zip(solids + dashes, s_d + d_d, strict=True):
                full[ok] = part[ok]
            placed |= ok
            failed = self.rows[todo & ~ok]
            self.halo[failed] &= ~bit
            stale = self.owner[failed] == owner
            self.owner[failed] = np.where(stale, -1, self.owner[failed])
        return solids, dashes, placed

    def discs(self, centers: np.ndarray) -> np.ndarray:
        return np.rint(centers).astype(np.intp)[:, None] + self.disc[None]


@dataclass
class _Drawn:
    """What rendering needs: per path, its dashed and solid pixels per step and presence."""

    dashes: list[list[np.ndarray]]
    solids: list[list[np.ndarray]]
    present: list[np.ndarray]
    markers: list[np.ndarray]  # start A, start B, end A, end B discs, (n, m, 2) each
    ok: np.ndarray


def _grow_scenes(st: Style, n: int, contour: int, rng: np.random.Generator) -> _Drawn:
    sc = _Scenes(st, n, rng)
    lo, hi = sc.pad + st.marker_radius + st.margin + 1, sc.pad + st.size - 2 - st.marker_radius \
        - st.margin
    seed_a = np.rint(rng.uniform(lo, hi, (n, 2)))
    angle = rng.uniform(-np.pi, np.pi, (n, 8))
    seeds_b = np.rint(seed_a[:, None] + st.seed_distance
                      * np.stack([np.sin(angle), np.cos(angle)], -1))
    inside = ((seeds_b >= lo) & (seeds_b <= hi)).all(axis=-1)
    alive = inside.any(axis=1)
    seed_b = np.clip(seeds_b[sc.rows, inside.argmax(axis=1)], lo, hi)
    starts = [sc.discs(seed_a), sc.discs(seed_b)]
    for owner, disc in enumerate(starts):
        sc.claim(sc.rows, disc, np.uint32(1 << owner))
    tips = [seed_a.astype(np.float64), seed_b.astype(np.float64)]
    heads: list[np.ndarray | None] = [None, None]
    dashes: list[list[np.ndarray]] = [[], []]
    solids: list[list[np.ndarray]] = [[], []]
    apart = 2 * st.marker_radius + st.margin + 1

    def end_rule(owner: int) -> EndRule:
        """The end marker fits: clear of other paths, and no two markers touch (a path may
        end near its start; target A's end is fixed before B's last dash)."""
        def rule(idx: np.ndarray, ends: np.ndarray) -> np.ndarray:
            discs = np.rint(ends).astype(np.intp)[..., None, :] + sc.disc
            ok = ~sc.foreign(idx, discs, np.uint32(1 << owner))
            others = [seed_a, seed_b] + ([tips[0]] if owner == 1 else [])
            for c in others:
                ok &= np.linalg.norm(ends - c[idx][:, None], axis=-1) > apart
            return ok
        return rule

    for dash in range(contour):
        for p in (0, 1):
            rule = end_rule(p) if dash == contour - 1 else None
            tips[p], heads[p], solid, dashed, alive = sc.grow(alive, p, tips[p], heads[p], dash,
                                                              rule)
            solids[p].append(solid)
            dashes[p].append(dashed)
            if rule is not None:
                sc.claim(sc.rows[alive], sc.discs(tips[p])[alive], np.uint32(1 << p))
    ends = [sc.discs(tips[0]), sc.discs(tips[1])]
    present = [alive.copy(), alive.copy()]
    d_len = max(contour // 3, 1)
    for d in range(st.distractor_budget // d_len):
        s_d, d_d, placed = sc.place_distractor(alive, 2 + d, d_len)
        solids.append(s_d)
        dashes.append(d_d)
        present.append(placed)
    pad = sc.pad  # padded -> image coordinates
    return _Drawn([[a - pad for a in p] for p in dashes], [[a - pad for a in p] for p in solids],
                  present, [m - pad for m in (*starts, *ends)], alive)


def _render(drawn: _Drawn, rows: np.ndarray, labels: np.ndarray, size: int,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Images of scenes `rows` with markers for `labels`: (dashed, clean), uint8."""
    n = len(rows)
    image = np.zeros((n, size, size), dtype=np.uint8)
    clean = np.zeros_like(image)
    shades = rng.integers(96, 201, (n, len(drawn.present))).astype(np.uint8)
    for p, present in enumerate(drawn.present):
        have = np.flatnonzero(present[rows])
        src = rows[have][:, None]
        for dashed, solid in zip(drawn.dashes[p], drawn.solids[p], strict=True):
            image[have[:, None], dashed[src[:, 0]][..., 0], dashed[src[:, 0]][..., 1]] = \
                shades[have, p][:, None]
            clean[have[:, None], solid[src[:, 0]][..., 0], solid[src[:, 0]][..., 1]] = \
                shades[have, p][:, None]
    first = rng.integers(0, 2, n)  # which target carries the start marker
    second = np.where(labels == 1, first, 1 - first)
    markers = np.stack(drawn.markers)[:, rows]  # (4, n, m, 2)
    for which in (first, 2 + second):
        disc = markers[which, np.arange(n)]
        for out in (image, clean):
            out[np.arange(n)[:, None], disc[..., 0], disc[..., 1]] = 255
    return image, clean


def draw_pathfinder(rng: np.random.Generator, labels: np.ndarray | list[int] | int,
                    resolution: int = 32, contour_length: int = 14
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Images for `labels`: ``(image, clean)`` uint8 ``(n, resolution, resolution)`` (no batch
    axis for a single int label).

    `image` has dashed paths (grey 96..200, one shade per path) and two white markers; `clean`
    the same scene with solid paths. Label 1: the markers are both ends of one target path.
    """
    single = np.ndim(labels) == 0
    labels = np.atleast_1d(np.asarray(labels, dtype=np.int64))
    st = STYLES[resolution]
    images, cleans = [], []
    todo = len(labels)
    for _ in range(1000):
        if todo == 0:
            break
        drawn = _grow_scenes(st, max(2 * todo, 16), contour_length, rng)
        rows = np.flatnonzero(drawn.ok)[:todo]
        done = len(labels) - todo
        image, clean = _render(drawn, rows, labels[done:done + len(rows)], st.size, rng)
        images.append(image)
        cleans.append(clean)
        todo -= len(rows)
    if todo:
        raise RuntimeError(f"could not place two paths of {contour_length} dashes at "
                           f"{resolution}x{resolution}")
    image, clean = np.concatenate(images), np.concatenate(cleans)
    return (image[0], clean[0]) if single else (image, clean)


def generate_pathfinder(out_dir: str | Path, n_images: int, resolution: int = 32,
                        difficulty: str = "curv_contour_length_14", seed: int = 0,
                        per_batch: int = PER_BATCH) -> Path:
    """Write `n_images` PNGs and their metadata under ``<out_dir>/<difficulty>``; returns
    `out_dir`. Each batch has its own random stream (``seed``, batch) and exactly balanced
    labels, so the output is deterministic.
    """
    if difficulty not in CONTOUR_LENGTHS:
        raise ValueError(f"unknown difficulty {difficulty!r}; one of {sorted(CONTOUR_LENGTHS)}")
    st = STYLES[resolution]
    contour = CONTOUR_LENGTHS[difficulty]
    root = Path(out_dir) / difficulty
    (root / "metadata").mkdir(parents=True, exist_ok=True)
    for batch, first in enumerate(range(0, n_images, per_batch)):
        n = min(per_batch, n_images - first)
        rng = np.random.default_rng([seed, resolution, contour, batch])
        labels = rng.permutation(np.arange(n) % 2)
        images, _ = draw_pathfinder(rng, labels, resolution, contour)
        folder = root / "imgs" / str(batch)
        folder.mkdir(parents=True, exist_ok=True)
        lines = []
        for i, (image, label) in enumerate(zip(images, labels, strict=True)):
            Image.fromarray(image, mode="L").save(folder / f"sample_{i}.png", compress_level=1)
            lines.append(f"imgs/{batch} sample_{i}.png {i} {label} {st.turn} {contour} "
                         f"{max(contour // 3, 1)} {st.paddle} {st.thickness} {st.margin} 1\n")
        (root / "metadata" / f"{batch}.npy").write_text("".join(lines))
    mark_generated(out_dir, "elm.data.lra_pathfinder.generate_pathfinder",
                   {"n_images": n_images, "resolution": resolution, "difficulty": difficulty,
                    "seed": seed, "per_batch": per_batch})
    return Path(out_dir)


def marker_distance(levels: np.ndarray, resolution: int) -> np.ndarray:
    """Distance in pixels between the two markers of each image, ``(n,)``.

    Why: it measures how much of a Pathfinder set a model can solve without tracing any path.
    Markers are the only pixels at the top grey level (paths are drawn darker, see
    :func:`draw_pathfinder`); each marker is one 8-connected blob, and the distance is between the
    centres of the two largest blobs (0 where fewer than two are found). `levels` are the binned
    sequences ``(n, resolution**2)`` the readers return.
    """
    images = np.asarray(levels).reshape(len(levels), resolution, resolution)
    top = images.max(axis=(1, 2), keepdims=True)
    out = np.zeros(len(images))
    for i, bright in enumerate(images == top):
        blobs, n = ndimage.label(bright, structure=np.ones((3, 3)))
        if n < 2:
            continue
        sizes = ndimage.sum_labels(bright, blobs, range(1, n + 1))
        largest = np.argsort(sizes)[-2:] + 1
        a, b = ndimage.center_of_mass(bright, blobs, largest)
        out[i] = float(np.hypot(a[0] - b[0], a[1] - b[1]))
    return out


__all__ = ["CONTOUR_LENGTHS", "STYLES", "Style", "draw_pathfinder", "generate_pathfinder",
           "marker_distance"]
