package server_test

import "time"

func timeParse(d string) (time.Time, error) { return time.Parse("2006-01-02", d) }
