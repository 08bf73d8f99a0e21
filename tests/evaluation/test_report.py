import csv
import json

import pytest

from keras_mpcl.evaluation import evaluate_tasks
from keras_mpcl.evaluation.report import parse_task_specs
from tests.evaluation.helpers import bag_of_chars

# NumPy / tf.data / Python only: scripts/test.sh runs these once.
pytestmark = pytest.mark.backend_independent


def make_fixtures(root):
    """Tiny data folders for all five tasks, in the shared data's formats."""
    tatoeba = root / "tatoeba"
    tatoeba.mkdir()
    (tatoeba / "tatoeba.deu-eng.deu").write_text("THE CAT\nA DOG\nRED SUN\n")
    (tatoeba / "tatoeba.deu-eng.eng").write_text("the cat\na dog\nred sun\n")
    # The "fra" side is identical for lines 0 and 1: line 1 ties to line 0.
    (tatoeba / "tatoeba.fra-eng.fra").write_text("BIG TREE\nBIG TREE\n")
    (tatoeba / "tatoeba.fra-eng.eng").write_text("big tree\nsmall river\n")
    sts17 = root / "sts17"
    sts17.mkdir()
    (sts17 / "sts17.track5.en-en.tsv").write_text(
        "5.0\tthe cat\tTHE CAT\n2.0\tthe cat\tthe cats\n0.0\tthe cat\tblue moon\n"
    )
    stsb = root / "stsb"
    stsb.mkdir()
    (stsb / "stsb-de-test.csv").write_text("a dog,A DOG,5\na dog,xyz,0\n")
    sib = root / "sib200"
    rows = [
        ("1", "sport", "ball game"),
        ("2", "sport", "team match"),
        ("3", "politics", "vote law"),
        ("4", "politics", "city vote"),
    ]
    for lang, transform in (("eng_Latn", str), ("deu_Latn", str.upper)):
        (sib / lang).mkdir(parents=True)
        for split in ("train", "test"):
            lines = ["index_id\tcategory\ttext"] + [
                f"{i}\t{c}\t{transform(t)}" for i, c, t in rows
            ]
            (sib / lang / f"{split}.tsv").write_text("\n".join(lines) + "\n")
    ntrex = root / "ntrex128"
    ntrex.mkdir()
    (ntrex / "newstest2019-src.eng.txt").write_text("zero\none sun\ntwo moons\n")
    (ntrex / "newstest2019-ref.deu.txt").write_text("null\nONE SUN\nTWO MOONS\n")
    (ntrex / "newstest2019-ref.fra.txt").write_text("zéro\nONE SUN\nTWO MOONS\n")
    return {
        "tatoeba": tatoeba,
        "sts17": sts17,
        "stsb": stsb,
        "sib200": sib,
        "ntrex": ntrex,
    }


def test_evaluate_tasks_report_and_files(tmp_path):
    paths = make_fixtures(tmp_path)
    specs = [f"{name}={path}" for name, path in paths.items()]
    output = tmp_path / "out" / "report.json"
    report = evaluate_tasks(bag_of_chars, specs, output=output, ntrex_lines=(1, 3))
    # tatoeba: deu is perfect; fra->eng is 1/2 (line 1 ties with line 0 and
    # loses); the per-language score is the mean of both directions.
    assert report["tatoeba"]["per_language"]["deu"] == 100.0
    fra = report["tatoeba"]["details"]["fra"]
    assert fra["source_to_target"] == 50.0
    assert report["tatoeba"]["per_language"]["fra"] == pytest.approx(
        (fra["source_to_target"] + fra["target_to_source"]) / 2
    )
    assert report["tatoeba"]["mean"] == pytest.approx(
        (100 + report["tatoeba"]["per_language"]["fra"]) / 2
    )
    assert report["sts17"]["per_language"] == {"en-en": 100.0}
    assert report["stsb"]["per_language"] == {"de": 100.0}
    assert report["sib200"]["per_language"] == {"deu_Latn": 100.0, "eng_Latn": 100.0}
    assert report["ntrex"]["languages"] == ["deu", "eng", "fra"]
    assert report["ntrex"]["mean"] == 100.0 and report["ntrex"]["lines"] == [1, 3]
    assert report["ntrex"]["matrix"][0] == [None, 100.0, 100.0]
    on_disk = json.loads(output.read_text())
    assert on_disk == report
    rows = list(csv.DictReader(open(output.with_suffix(".csv"))))
    assert {
        "task": "stsb",
        "language": "de",
        "metric": "spearman",
        "score": "100.0",
    } in rows
    for name in ("tatoeba", "sts17", "stsb", "sib200", "ntrex", "ntrex_heatmap"):
        png = output.parent / f"report.{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


def test_language_filter_and_spec_errors(tmp_path):
    paths = make_fixtures(tmp_path)
    report = evaluate_tasks(
        bag_of_chars,
        {"tatoeba": paths["tatoeba"], "sib200": paths["sib200"]},
        languages=["deu"],
        plots=False,
    )
    assert list(report["tatoeba"]["per_language"]) == ["deu"]
    assert list(report["sib200"]["per_language"]) == ["deu_Latn"]
    with pytest.raises(ValueError, match="matches `languages`"):
        evaluate_tasks(bag_of_chars, {"stsb": paths["stsb"]}, languages=["ja"])
    with pytest.raises(ValueError, match="NAME=PATH"):
        parse_task_specs(["tatoeba"])
    with pytest.raises(ValueError, match="Unknown task"):
        parse_task_specs(["bucc=/x"])


def test_shared_data_report(shared_data, tmp_path):
    report = evaluate_tasks(
        bag_of_chars,
        {
            "sts17": shared_data / "sts17",
            "stsb": shared_data / "stsb_multi_mt",
            "ntrex": shared_data / "ntrex128",
        },
        languages=["en", "es", "de", "eng", "deu"],
        output=tmp_path / "r.json",
        plots=False,
        ntrex_lines=(1990, 1997),
    )
    assert sorted(report["sts17"]["per_language"]) == [
        "en-en",
        "es-en-4a",
        "es-en-4b",
        "es-es",
    ]
    assert sorted(report["stsb"]["per_language"]) == ["de", "en", "es"]
    assert report["ntrex"]["languages"] == ["deu", "eng"]
    assert all(-100 <= v <= 100 for v in report["sts17"]["per_language"].values())

