"""Word frequencies of a generated text: dictionaries, string methods, sorting."""
words = ["page", "table", "walk", "guest", "host", "frame", "entry", "cache", "miss", "exit"]
counts = {}
state = 12345
for _ in range(2000):
    state = (state * 1103515245 + 12345) % 2**31   # fixed LCG: the same text every run
    word = words[state % len(words)] + str(state % 7)
    counts[word] = counts.get(word, 0) + 1
for word, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:5]:
    print(f"{word} {n}")
