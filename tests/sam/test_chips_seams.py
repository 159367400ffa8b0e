import numpy as np
import pytest
from shapely.geometry import box

from farmannot.sam.chips import chip_grid, choose_chip, prompts_extent
from farmannot.sam.seams import Proposal, merge_proposals, touches_inner_edge


def test_grid_covers_scene_with_overlap():
    grid = chip_grid(2500, 1100, 1024, 256)
    cover = np.zeros((1100, 2500), bool)
    for w in grid:
        cover[int(w.row_off):int(w.row_off + w.height), int(w.col_off):int(w.col_off + w.width)] = True
        assert w.width == 1024 and w.height == 1024
    assert cover.all()


def test_object_across_a_chip_edge_goes_to_a_chip_that_holds_it_whole():
    grid = chip_grid(3000, 3000, 1024, 256)  # chips start at 0, 768, 1536, 1976
    # a field spanning cols 700..900: it crosses the right edge of chip 0 (ends 1024)? no: 900 < 1024,
    # but it sits only 124 px from that edge; chip starting at 768 would cut it at 768. Best: a chip where
    # it lies with most room.
    ext = prompts_extent(points=[(720, 1200)], boxes=[(700, 1150, 1000, 1300)])
    ch = choose_chip(ext, grid, 3000, 3000)
    w = ch.window
    assert not ch.downsampled
    assert w.col_off <= 700 and w.col_off + w.width >= 1000
    assert w.row_off <= 1150 and w.row_off + w.height >= 1300
    room = min(700 - w.col_off, w.col_off + w.width - 1000, 1150 - w.row_off, w.row_off + w.height - 1300)
    assert room >= 0.25 * 300
    # chip/scene coordinates round-trip
    xy = np.array([[720.0, 1200.0]])
    np.testing.assert_allclose(ch.to_scene(ch.to_chip(xy)), xy)


def test_object_larger_than_a_chip_is_downsampled_and_centred():
    grid = chip_grid(5000, 5000, 1024, 256)
    ch = choose_chip((1000, 1000, 2600, 2200), grid, 5000, 5000)
    assert ch.downsampled and ch.size == 1024
    w = ch.window
    assert w.col_off <= 1000 and w.col_off + w.width >= 2600
    assert w.row_off <= 1000 and w.row_off + w.height >= 2200
    assert ch.scale < 1
    assert ch.to_chip(np.array([[w.col_off + w.width, w.row_off]]))[0, 0] == pytest.approx(1024)


def test_field_cut_by_a_seam_becomes_one_polygon_and_duplicates_collapse():
    field = box(900, 100, 1200, 300)          # crosses x=1024 (right edge of chip 0)
    chip0 = (0, 0, 1024, 1024)
    chip1 = (768, 0, 1024, 1024)
    part0 = field.intersection(box(*[0, 0, 1024, 1024]))
    part1 = field.intersection(box(768, 0, 1792, 1024))  # chip 1 sees it whole
    other = box(100, 100, 200, 200)          # only in chip 0
    dup_a, dup_b = box(800, 600, 950, 700), box(801, 600, 950, 701)  # in the overlap, seen by both chips
    props = [
        Proposal(part0, 0.9, 0, touches_inner_edge(part0, chip0, 3000, 1024)),
        Proposal(part1, 0.8, 1, touches_inner_edge(part1, chip1, 3000, 1024)),
        Proposal(other, 0.7, 0, False),
        Proposal(dup_a, 0.6, 0, False),
        Proposal(dup_b, 0.5, 1, False),
    ]
    assert props[0].cut and not props[1].cut
    merged = merge_proposals(props)
    assert len(merged) == 3
    whole = max(merged, key=lambda p: p.geometry.area)
    assert whole.geometry.equals(field)
    assert sorted(whole.sources) == [0, 1]


def test_neighbouring_fields_in_the_same_chip_stay_apart():
    a, b = box(0, 0, 100, 100), box(100, 0, 200, 100)  # touching, same chip
    merged = merge_proposals([Proposal(a, 1, 0), Proposal(b, 1, 0)])
    assert len(merged) == 2


def test_merge_scales_subquadratically():
    # 20,000 small disjoint proposals: candidate pairs come from the tree (near zero here), so this is fast
    props = [Proposal(box(i * 10, j * 10, i * 10 + 8, j * 10 + 8), 1.0, k % 4)
             for k, (i, j) in enumerate((i, j) for i in range(200) for j in range(100))]
    merged = merge_proposals(props)
    assert len(merged) == 20000


def test_a_field_wider_than_the_chip_overlap_cut_on_both_chips_is_joined():
    """Chips x 0-1024 and 768-1792 share x 768-1024; a field x 500-1300 is cut on both. Inside the shared
    area the two pieces agree exactly, although each covers under half of the other."""
    chip0, chip1 = (0, 0, 1024, 1024), (768, 0, 1024, 1024)
    piece0, piece1 = box(500, 100, 1024, 400), box(768, 100, 1300, 400)
    props = [Proposal(piece0, 0.9, 0, touches_inner_edge(piece0, chip0, 3000, 1024)),
             Proposal(piece1, 0.9, 1, touches_inner_edge(piece1, chip1, 3000, 1024))]
    assert props[0].cut and props[1].cut
    assert len(merge_proposals(props)) == 2  # judged over the whole smaller piece: 256 / 524 < 0.5
    merged = merge_proposals(props, windows=[chip0, chip1])
    assert len(merged) == 1 and merged[0].geometry.equals(box(500, 100, 1300, 400))
    # a neighbour across a field edge inside the shared area is not the same field
    neighbour = box(900, 400, 1300, 700)  # below the field, touching it along y = 400
    props.append(Proposal(neighbour, 0.9, 1, touches_inner_edge(neighbour, chip1, 3000, 1024)))
    assert len(merge_proposals(props, windows=[chip0, chip1])) == 2
