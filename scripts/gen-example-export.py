#!/usr/bin/env python3
"""Write examples/maps-export.csv: a google-maps-scraper style export of fictional businesses.

usage: scripts/gen-example-export.py [OUT]

Every business is invented: domains end in .example (reserved, RFC 2606) and phone numbers are
in the 555-0100..0199 range that US numbering keeps for fiction, so nobody is ever contacted.
A few rows are broken or duplicated on purpose, to show what ingest rejects and merges.
The output is the same on every run (fixed seed).
"""
import csv
import json
import random
import re
import sys

rng = random.Random(20261124)

CITIES = [  # name, zip, lat, lng, area code
    ("Springfield", "62701", 39.7817, -89.6501, "217"),
    ("Champaign", "61820", 40.1164, -88.2434, "217"),
    ("Decatur", "62521", 39.8403, -88.9548, "217"),
    ("Peoria", "61602", 40.6936, -89.5890, "309"),
    ("Bloomington", "61701", 40.4842, -88.9937, "309"),
]
TRADES = {
    "Auto repair shop": (["{a} Auto Repair", "{a} Garage", "{b}'s Auto Service", "{a} Brake & Tire"], "$$"),
    "Real estate agency": (["{a} Realty", "{b} Real Estate Group", "{a} Homes", "{b} & Partners Realtors"], None),
    "Italian restaurant": (["Trattoria {c}", "{b}'s Kitchen", "Osteria {c}", "{a} Pizzeria"], "$$"),
    "Plumber": (["{a} Plumbing", "{b} Pipe & Drain", "{a} Rooter"], None),
    "Hair salon": (["{a} Hair Studio", "Salon {c}", "{b}'s Cuts"], "$$"),
    "Dentist": (["{a} Family Dental", "{b} Dental Care", "{a} Smiles"], None),
    "Bakery": (["{a} Bakehouse", "{b}'s Bakery", "Le Pain {c}"], "$"),
}
A = ["Prairie", "Lincoln", "Capitol", "Sangamon", "Riverside", "Oak Park", "Northgate", "Cornbelt",
     "Heartland", "Redbird", "Lakeview", "Old Town", "Maple", "Bluestem", "Railsplitter", "Union"]
B = ["Miller", "Novak", "Garcia", "Okafor", "Lindqvist", "Brennan", "Kowalski", "Tran", "Haddad", "Fischer",
     "Moreau", "Patel", "Adeyemi", "Rossi", "Schultz", "Yamada"]
C = ["Bella", "Aurora", "Verde", "Luna", "Sole", "Marina", "Fiore", "Stella"]
STREETS = ["Main St", "Monroe St", "Adams St", "Washington Ave", "Wabash Ave", "Jefferson St",
           "Lincoln Blvd", "Prairie Rd", "Veterans Pkwy", "Stevenson Dr", "University Ave", "College Ave"]
HOURS = {"Monday": ["8 AM–6 PM"], "Tuesday": ["8 AM–6 PM"], "Wednesday": ["8 AM–6 PM"],
         "Thursday": ["8 AM–6 PM"], "Friday": ["8 AM–6 PM"], "Saturday": ["9 AM–2 PM"], "Sunday": ["Closed"]}
COLUMNS = ["input_id", "link", "title", "category", "address", "open_hours", "website", "phone",
           "review_count", "review_rating", "latitude", "longitude", "cid", "status", "descriptions",
           "timezone", "price_range", "data_id", "place_id", "complete_address", "emails"]


def slug(s):
    return re.sub(r"[^a-z0-9]+", "-", s.lower().replace("'", "")).strip("-")


def article(word):
    return "an" if word[0].lower() in "aeiou" else "a"


def business(i, used_phones):
    trade = list(TRADES)[i % len(TRADES)]
    patterns, price = TRADES[trade]
    while True:
        name = rng.choice(patterns).format(a=rng.choice(A), b=rng.choice(B), c=rng.choice(C))
        city, zip_, lat, lng, area = rng.choice(CITIES)
        if (name, city) not in used_names:
            used_names.add((name, city))
            break
    while True:
        line = 100 + rng.randrange(100)
        if (area, line) not in used_phones:
            used_phones.add((area, line))
            break
    street = f"{rng.randint(100, 4999)} {rng.choice(STREETS)}"
    domain = slug(name) + ".example"
    has_site = rng.random() < 0.55
    has_email = rng.random() < 0.35
    rating = round(rng.uniform(3.4, 5.0), 1) if i % 23 else 2.6
    reviews = rng.choice([0, 3, 8, 15, 27, 44, 61, 90, 132, 210, 380])
    place_id = f"ChIJexample{i:05d}"
    return {
        "input_id": f"example-{i:04d}",
        "link": f"https://maps.example/place/{slug(name)}",
        "title": name,
        "category": trade,
        "address": f"{street}, {city}, IL {zip_}",
        "open_hours": json.dumps(HOURS, ensure_ascii=False),
        "website": f"https://www.{domain}/" if has_site else "",
        "phone": f"({area}) 555-0{line}",
        "review_count": str(reviews),
        "review_rating": f"{rating:.6f}" if reviews else "",
        "latitude": f"{lat + rng.uniform(-0.03, 0.03):.6f}",
        "longitude": f"{lng + rng.uniform(-0.03, 0.03):.6f}",
        "cid": str(10_000_000_000 + i),
        "status": "",
        "descriptions": f"{name} is {article(trade)} {trade.lower()} in {city}, Illinois." if rng.random() < 0.5 else "",
        "timezone": "America/Chicago",
        "price_range": price or "",
        "data_id": f"0x0:0x{i:x}",
        "place_id": place_id,
        "complete_address": json.dumps({"borough": "", "street": street, "city": city, "postal_code": zip_,
                                        "state": "Illinois", "country": "US"}),
        "emails": f"info@{domain}" if has_email else "",
    }


used_names = set()


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "examples/maps-export.csv"
    used_phones = set()
    rows = [business(i, used_phones) for i in range(120)]
    # The same business scraped twice: one row with more data, one with a differently written phone.
    dup = dict(rows[3])
    dup["input_id"], dup["phone"] = "example-dup-1", dup["phone"].replace("(", "").replace(") ", "-")
    dup["emails"], dup["website"] = "", ""
    rows.insert(40, dup)
    dup2 = dict(rows[10])
    dup2["input_id"], dup2["emails"] = "example-dup-2", "hello@" + slug(dup2["title"]) + ".example"
    rows.insert(77, dup2)
    # Rows ingest must reject, each for a reason of its own.
    broken = [
        ("example-bad-1", {"title": ""}),
        ("example-bad-2", {"phone": "555-12"}),
        ("example-bad-3", {"website": "http://"}),
        ("example-bad-4", {"review_rating": "n/a"}),
        ("example-bad-5", {"emails": "office@"}),
    ]
    for n, (input_id, change) in enumerate(broken):
        row = business(200 + n, used_phones)
        row.update(change)
        row["input_id"] = input_id
        rows.insert(15 + 20 * n, row)
    with open(out, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


if __name__ == "__main__":
    main()
