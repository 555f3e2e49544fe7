def test_table_vgg16_runs(cli):
    ran = cli("table", "vgg16")
    assert ran.code == 0, ran.err
    assert "138,357,544" in ran.out
