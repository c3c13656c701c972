# Datasets: MNIST-format IDX files are downloaded once into resources/ unless mnist_dir is set.
from sbp_core.fetch import MNIST_FILES


rule fetch_mnist:
    output:
        expand(f"{MNIST_DOWNLOAD}/{{file}}", file=MNIST_FILES),
    log:
        "resources/logs/fetch_mnist.log",
    localrule: True
    params:
        cli=SBP_BENCH,
        dest=lambda wildcards, output: Path(output[0]).parent,
        mirror_options=[
            arg for url in config["mnist"]["mirrors"] for arg in ("--mirror", url)
        ],
        checksums=config["mnist"]["checksums"],
    shell:
        "{params.cli} fetch-mnist --dest {params.dest} {params.mirror_options:q}"
        " --checksums {params.checksums:q} > {log} 2>&1"
