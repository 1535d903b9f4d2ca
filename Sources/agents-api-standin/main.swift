print("standin")
