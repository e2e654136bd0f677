"""The handoffs page's from→to diagram, laid out on the server (a small Sankey).

Departments handing items off stand in a column on the left, those receiving them in a
column on the right; each reroute or share cell of the matrix is one link whose width is
its count. The input is the matrix `metrics.handoffs` already scoped to the viewer, so the
diagram shows exactly the table's cells and nothing the viewer may not see. Pure
geometry: no queries, plain numbers and the matrix's own objects for the template.
"""

import re
from collections import defaultdict

WIDTH = 900
LEFT = 190  # room for the senders' names
RIGHT = WIDTH - 190  # and the receivers'
NODE_WIDTH = 14
TOP = 28  # the column headings
GAP = 22  # between two departments of a column
MAX_LINK = 40  # the widest link, in px
MIN_LINK = 2  # a link of one item must still be seen
MIN_NODE = 26
SLOT = 18  # each link's place in a node at least: its label never overlaps the next one
FALLBACK_COLOUR = "#607d8b"
_HEX = re.compile(r"#[0-9a-fA-F]{3}(?:[0-9a-fA-F]{3})?")


def _colour(department) -> str:
    colour = getattr(department, "colour", "") or ""
    return colour if _HEX.fullmatch(colour) else FALLBACK_COLOUR


def handoff_diagram(matrix: list[dict]) -> dict | None:
    """Nodes and links for templates/dashboards/_flow.html from the matrix cells
    ({"kind", "from", "to", "count", "link"}); None when there is no handoff."""
    cells = [c for c in matrix if c["count"] > 0]
    if not cells:
        return None
    biggest = max(c["count"] for c in cells)

    def width(count: int) -> float:
        return max(MIN_LINK, MAX_LINK * count / biggest)

    def slot(count: int) -> float:
        return max(SLOT, width(count))

    senders = sorted({c["from"].pk: c["from"] for c in cells}.values(), key=lambda d: d.name)
    receivers = sorted({c["to"].pk: c["to"] for c in cells}.values(), key=lambda d: d.name)
    out_band = defaultdict(float)
    in_band = defaultdict(float)
    for cell in cells:
        out_band[cell["from"].pk] += slot(cell["count"])
        in_band[cell["to"].pk] += slot(cell["count"])

    def column(departments, band, x, side):
        nodes, y = {}, TOP
        for dept in departments:
            height = max(MIN_NODE, band[dept.pk])
            total = sum(c["count"] for c in cells if c[side].pk == dept.pk)
            nodes[dept.pk] = {
                "department": dept,
                "colour": _colour(dept),
                "x": x,
                "y": y,
                "height": height,
                "total": total,
                "label_y": y + height / 2,
                # Where the next link leaves or arrives: links are stacked inside the node,
                # centred when the node is taller than their bands.
                "cursor": y + (height - band[dept.pk]) / 2,
            }
            y += height + GAP
        return nodes, y - GAP

    from_nodes, from_bottom = column(senders, out_band, LEFT - NODE_WIDTH, "from")
    to_nodes, to_bottom = column(receivers, in_band, RIGHT, "to")
    order = {pk: n for n, pk in enumerate(to_nodes)}
    back = {pk: n for n, pk in enumerate(from_nodes)}
    links = []
    # Stacked in the order of the other end, so links cross as little as they can.
    for cell in sorted(cells, key=lambda c: (back[c["from"].pk], order[c["to"].pk], c["kind"])):
        room = slot(cell["count"])
        source = from_nodes[cell["from"].pk]
        y1 = source["cursor"] + room / 2
        source["cursor"] += room
        links.append({"cell": cell, "width": width(cell["count"]), "room": room, "y1": y1})
    for link in sorted(
        links, key=lambda lk: (order[lk["cell"]["to"].pk], back[lk["cell"]["from"].pk])
    ):
        target = to_nodes[link["cell"]["to"].pk]
        link["y2"] = target["cursor"] + link["room"] / 2
        target["cursor"] += link["room"]
    x1, x2 = LEFT, RIGHT
    mid = (x1 + x2) / 2
    for link in links:
        cell, y1, y2 = link["cell"], link["y1"], link["y2"]
        link.update(
            {
                "kind": cell["kind"],
                "count": cell["count"],
                "from": cell["from"],
                "to": cell["to"],
                "href": cell.get("link", ""),
                "colour": _colour(cell["from"]),
                "d": f"M{x1},{y1:.1f} C{mid},{y1:.1f} {mid},{y2:.1f} {x2},{y2:.1f}",
                # Where the link leaves its sender: one slot per link, so labels never
                # overlap (midpoints crowd where links cross).
                "label_x": x1 + 8,
                "label_y": y1,
            }
        )
    return {
        "width": WIDTH,
        "height": max(from_bottom, to_bottom) + 12,
        "left": LEFT,
        "right": RIGHT,
        "node_width": NODE_WIDTH,
        "from_nodes": list(from_nodes.values()),
        "to_nodes": list(to_nodes.values()),
        "links": links,
        "total": sum(c["count"] for c in cells),
    }
