module lcgo

go 1.19
