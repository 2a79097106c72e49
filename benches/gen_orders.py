#!/usr/bin/env python3
"""Write a large purchase-order file for the memory benchmarks (BENCHMARKS.md, "Flat memory").

    python3 benches/gen_orders.py csv 200 orders.csv              # about 200 MB of CSV
    python3 benches/gen_orders.py csv 1000 orders.csv --spread 100
    python3 benches/gen_orders.py x12 1000 orders.x12

CSV: the layout of mappings/purchase_orders.csv.toml, two line rows per order (about 360 bytes
an order, like the 200 MB / 555,000-order file of the issue). With `--spread N`, every Nth
order's second row is written 50 orders later, so its rows are not adjacent and the push must
group them across the file. X12: 850 transaction sets of ten segments each, one interchange.
Item numbers are in the embedded sandbox's catalog, so a real push creates every order.
"""

import argparse
import sys

HEADER = (
    "PO Number,Order Date,Vendor,Ship To Name,Ship To Company,Ship To Address 1,"
    "Ship To Address 2,Ship To City,Ship To State,Ship To Zip,Ship To Country,"
    "Requested Ship Date,Line,Item,Quantity,Unit Cost,Memo\n"
)
ROW = (
    "PO-M{n:08},11/02/2026,AHEAD,Receiving Dock,Acme Corp,100 Main St,Suite 200,Minneapolis,"
    "MN,55401,US,11/20/2026,{line},{item},{qty},\"2,150.00\",Rush build\n"
)
ITEMS = ("SRV-1U-X10", "RAIL-KIT-1U")


def csv(out, target, spread):
    out.write(HEADER)
    written = len(HEADER)
    deferred = {}  # order index at which to write -> rows held back
    n = 0
    while written < target or deferred:
        rows = deferred.pop(n, [])
        if written < target:
            first = ROW.format(n=n, line=1, item=ITEMS[0], qty=n % 9 + 1)
            second = ROW.format(n=n, line=2, item=ITEMS[1], qty=2)
            rows.append(first)
            if spread and n % spread == 0:
                deferred.setdefault(n + 50, []).append(second)
            else:
                rows.append(second)
        elif not rows:
            rows = deferred.pop(min(deferred))
        for r in rows:
            out.write(r)
            written += len(r)
        n += 1
    return n


def x12(out, target):
    head = (
        "ISA*00*          *00*          *ZZ*ACMECORP       *ZZ*AHEADSYS       *261102*1200*U*00401*000000101*0*P*>~\n"
        "GS*PO*ACMECORP*AHEADSYS*20261102*1200*101*X*004010~\n"
    )
    out.write(head)
    written = len(head)
    n = 0
    while written < target:
        s = (
            f"ST*850*{n % 10000:04}~\nBEG*00*SA*PO-X{n:08}**20261102~\nDTM*010*20261120~\n"
            "N1*ST*Receiving Dock~\nN3*100 Main St*Suite 200~\nN4*Minneapolis*MN*55401*US~\n"
            "PO1*1*4*EA*2150.00**VP*SRV-1U-X10~\nPO1*2*4*EA*45.50**VP*RAIL-KIT-1U~\nCTT*2~\n"
            f"SE*10*{n % 10000:04}~\n"
        )
        out.write(s)
        written += len(s)
        n += 1
    out.write(f"GE*{n}*101~\nIEA*1*000000101~\n")
    return n


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("format", choices=["csv", "x12"])
    p.add_argument("megabytes", type=float)
    p.add_argument("path")
    p.add_argument("--spread", type=int, default=0, help="every Nth order's rows not adjacent")
    a = p.parse_args()
    target = int(a.megabytes * 1_000_000)
    with open(a.path, "w", buffering=1 << 20) as out:
        n = csv(out, target, a.spread) if a.format == "csv" else x12(out, target)
    print(f"{a.path}: {n} orders", file=sys.stderr)


if __name__ == "__main__":
    main()
