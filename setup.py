"""Package mapping: the design card's top-level folders install inside the `omninft` namespace."""

from setuptools import find_packages, setup

# folder -> import name; generic folder names must not squat the global import namespace.
PACKAGE_DIRS = {
    "omninft_client": "omninft_client",
    "omninft.reward_servers": "reward_servers",
    "omninft.bench": "bench",
    "omninft.trainer": "trainer",
}

packages = []
for name, folder in PACKAGE_DIRS.items():
    packages.append(name)
    packages += [f"{name}.{sub}" for sub in find_packages(folder)]

setup(packages=packages, package_dir=PACKAGE_DIRS)
