Route #1: 5 1 2
Route #2: 4 3
Cost 39.4
