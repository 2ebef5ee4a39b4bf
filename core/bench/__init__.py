"""TuneLab's benchmarks (speed, the live page, a class of students, the Curve Doctor) and the browser
harness they share with the tests. The product never imports this package."""
