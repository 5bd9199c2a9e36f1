import pathlib

from setuptools import find_packages, setup

HERE = pathlib.Path(__file__).parent

EXTRAS = {
    "redis": ["redis>=5"],
    "gunicorn": ["gunicorn>=22"],
    "django": ["Django>=4.2"],
    "docs": ["sphinx>=7"],
    # a faster JSON codec behind default_json_dumps/default_json_loads
    "speedups": ["orjson>=3.9"],
    "test": [
        "pytest>=8",
        "hypothesis>=6.100",
        "websocket-client>=1.7",
        "requests>=2.31",
        "playwright>=1.40",
        # the Python client of Socket.IO 0.9 (its 0.6+ speak 1.x)
        "socketIO-client>=0.5.6,<0.6",
        # the framework integrations and examples, tested with the real thing
        "Flask>=3.0",
        "PasteDeploy>=3.0",
        "pyramid>=2.0",
    ],
    "lint": ["ruff>=0.5", "mypy>=1.10"],
}
# The suite tests every integration with the real package: installing the
# test extra alone must be enough to run it.
EXTRAS["test"] += EXTRAS["redis"] + EXTRAS["gunicorn"] + EXTRAS["django"] + EXTRAS["speedups"]

setup(
    name="gevent-socketio",
    version="0.4.0.dev0",
    description="Socket.IO 0.9 server for gevent and WSGI: a drop-in successor of gevent-socketio 0.3",
    long_description=(HERE / "README.rst").read_text(encoding="utf-8"),
    long_description_content_type="text/x-rst",
    license="BSD-3-Clause",
    license_files=["LICENSE"],
    python_requires=">=3.10",
    packages=find_packages(include=["socketio", "socketio.*"]),
    package_data={"socketio": ["py.typed"]},
    include_package_data=True,
    zip_safe=False,
    install_requires=[
        "gevent>=23.9",
        "gevent-websocket==0.10.1",
        "greenlet>=3.0",
    ],
    extras_require=EXTRAS,
    project_urls={
        "Socket.IO 0.9": "https://github.com/socketio/socket.io/tree/0.9",
        "Original gevent-socketio": "https://github.com/abourget/gevent-socketio",
    },
    entry_points={
        "paste.server_runner": ["paster = socketio.server:serve_paste"],
    },
    classifiers=[
        "Development Status :: 3 - Alpha",
        "Framework :: Gevent",
        "Intended Audience :: Developers",
        "Operating System :: POSIX",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3 :: Only",
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
        "Topic :: Internet :: WWW/HTTP :: WSGI :: Server",
        "Typing :: Typed",
    ],
)
