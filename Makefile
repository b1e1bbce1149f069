# The README's commands; each delegates to ./dev, which installs what is missing first.
.PHONY: setup up down status test lint bench render

setup:
	./dev setup
up:
	./dev up
down:
	./dev down
status:
	./dev status
test:
	./dev test
lint:
	./dev lint
bench:
	./dev bench
render:
	./dev neurmatic render
