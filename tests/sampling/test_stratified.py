from collections import Counter

from maga.sampling.stratified import StratifiedSampler, length_bucket


def docs(n, lang, prefix):
    return [{"id": f"{prefix}{i}", "lang": lang} for i in range(n)]


def run(order, size=10, seed=1):
    s = StratifiedSampler(size, seed)
    for d in order:
        s.offer((d["lang"],), d)
    return s


def test_allocation_is_proportional_and_exact():
    population = docs(80, "en", "e") + docs(20, "fr", "f")
    s = run(population)
    sample = s.sample()
    assert len(sample) == 10
    assert Counter(d["lang"] for d in sample) == {"en": 8, "fr": 2}


def test_sample_is_seeded_and_order_independent():
    population = docs(50, "en", "e") + docs(50, "es", "s")
    a = [d["id"] for d in run(population).sample()]
    b = [d["id"] for d in run(list(reversed(population))).sample()]
    c = [d["id"] for d in run(population, seed=2).sample()]
    assert a == b
    assert a != c


def test_small_population_returns_everything():
    s = run(docs(3, "en", "e"), size=10)
    assert len(s.sample()) == 3


def test_length_buckets():
    assert length_bucket(10, [400, 800]) == "0-399"
    assert length_bucket(400, [400, 800]) == "400-799"
    assert length_bucket(5000, [400, 800]) == "800+"
