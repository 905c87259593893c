# Shared build rule for every function (sam build, BuildMethod: makefile).
# Each functions/<folder>/Makefile is the single line `include $(dir $(lastword $(MAKEFILE_LIST)))../build.mk`.
# sam runs `make --makefile <abs path>/Makefile build-<LogicalId>` with the working directory set to a
# scratch copy of the CodeUri folder, so the include is resolved from the Makefile's own location,
# and app.py is taken from the working directory. The artifact holds app.py only; the shared code
# and the dependencies come from SharedLayer.

build-%:
	cp app.py "$(ARTIFACTS_DIR)/"

