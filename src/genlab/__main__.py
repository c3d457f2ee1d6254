import sys

from .cli import main
from .training import distributed

code = main()
distributed.leave(code)  # a torchrun worker ends here, without gloo's teardown
sys.exit(code)
