package main

// Windows has no IANA zone database for Go to read: embed one, so that a
// named [budget_settings] timezone resolves. Other systems ship it
// (/usr/share/zoneinfo), and embedding it everywhere would add 400 KB.
import _ "time/tzdata"
